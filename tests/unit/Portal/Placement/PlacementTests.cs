using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Unit.Portal.Placement;

// Here "Placement" alone would name this namespace: the alias, inside it, is found first.
using Placement = Paddock.Portal.Features.Placement.Placement;

public sealed class PlacementTests
{
    private static HostView Host(string name, int cpus, long memoryMiB, Resources allocated = default, OvercommitPolicy? policy = null,
        bool maintenance = false, bool reachable = true) =>
        new(Guid.NewGuid(), name, cpus, memoryMiB, 100 * 1024, policy ?? OvercommitPolicy.Default, allocated, reachable, maintenance);

    [Fact]
    public void Capacity_is_total_less_reserved_times_the_ratio()
    {
        var host = Host("a", 8, 16 * 1024,
            policy: new OvercommitPolicy { CpuRatio = 4, RamRatio = 1.5, DiskRatio = 2, ReservedCpus = 2, ReservedMemoryMiB = 1024 });

        Assert.Equal(new Resources(24, 23040, 200 * 1024), Placement.Capacity(host));
    }

    [Fact]
    public void Admission_holds_exactly_up_to_the_capacity_and_not_one_MiB_beyond()
    {
        // 2048 - 512 reserved = 1536 MiB at RAM ratio 1.0.
        var host = Host("a", 2, 2048, allocated: new Resources(1, 1024, 0));

        Assert.Null(Placement.Filter(host, new Resources(1, 512, 1)));
        Assert.Equal("memory: 513 MiB asked, 512 MiB free of 1536 MiB (RAM ratio 1.0, 512 MiB reserved)", Placement.Filter(host, new Resources(1, 513, 1)));
    }

    [Fact]
    public void Cpu_overcommit_follows_the_ratio()
    {
        var host = Host("a", 2, 64 * 1024, allocated: new Resources(7, 0, 0));

        Assert.Null(Placement.Filter(host, new Resources(1, 256, 1)));
        Assert.Equal("vCPUs: 2 asked, 1 free of 8 (CPU ratio 4.0, 0 reserved)", Placement.Filter(host, new Resources(2, 256, 1)));
    }

    [Fact]
    public void A_host_that_cannot_confine_vms_without_leave_takes_nothing_and_says_what_it_lacks()
    {
        var lacking = Host("lacking", 8, 8192) with { Unconfined = "an own uid per VM (the agent does not run as root)" };

        Assert.Equal(
            "cannot confine VMs: lacks an own uid per VM (the agent does not run as root); unconfined VMs are not allowed on it",
            Placement.Filter(lacking, new Resources(1, 256, 0)));
        Assert.Equal("No host can take a VM right now: none is available. Ask an admin.",
            Placement.Decide([lacking], new Resources(1, 256, 0), Weigher.Spread).Refusal);
    }

    [Fact]
    public void A_vm_with_a_nic_on_a_tenant_network_never_goes_to_a_host_that_lays_out_none()
    {
        var without = Host("without", 8, 16 * 1024) with { TenantNetworks = false };
        var with = Host("with", 8, 1024);

        var decision = Placement.Decide([without, with], new Resources(1, 256, 0), Weigher.Spread, tenantNetworks: true);

        Assert.Equal("with", decision.Chosen?.Name);
        Assert.Equal(Placement.NoTenantNetworks, decision.PassedOver.Single().Reason);
        // Isolated NICs only: the host with more free memory, networks or not.
        Assert.Equal("without", Placement.Decide([without, with], new Resources(1, 256, 0), Weigher.Spread).Chosen?.Name);
    }

    [Fact]
    public void When_no_host_that_lays_out_tenant_networks_is_left_the_refusal_says_so()
    {
        HostView[] hosts = [Host("without", 8, 16 * 1024) with { TenantNetworks = false }, Host("away", 8, 16 * 1024, maintenance: true)];

        var decision = Placement.Decide(hosts, new Resources(1, 256, 0), Weigher.Spread, tenantNetworks: true);

        Assert.Null(decision.Chosen);
        Assert.Equal("No host that carries tenant networks can take a VM right now: put its NICs on Isolated (internet only), or ask an admin.", decision.Refusal);
        // A host that lays them out but is full: the resource is what the member reads.
        Assert.Equal("No host can take 2 GiB of memory right now.",
            Placement.Decide([.. hosts, Host("full", 8, 1024)], new Resources(1, 2048, 0), Weigher.Spread, tenantNetworks: true).Refusal);
    }

    [Fact]
    public void An_image_installed_with_hosts_only_goes_where_it_is_installed()
    {
        var without = Host("without", 8, 8192) with { Images = ["other.qcow2"] };
        var with = Host("with", 8, 1024) with { Images = ["builtin-busybox.qcow2"] };

        var decision = Placement.Decide([without, with], new Resources(1, 256, 0), Weigher.Spread, installedImage: "builtin-busybox.qcow2");

        Assert.Equal("with", decision.Chosen?.Name);
        Assert.Equal("no builtin-busybox.qcow2 (installed with each host, not in the library, and not on this one)", decision.PassedOver.Single().Reason);
    }

    [Fact]
    public void Maintenance_and_unreachable_hosts_take_nothing()
    {
        Assert.Equal("in maintenance", Placement.Filter(Host("a", 8, 8192, maintenance: true), new Resources(1, 64, 1)));
        Assert.Equal("unreachable", Placement.Filter(Host("a", 8, 8192, reachable: false), new Resources(1, 64, 1)));
    }

    [Fact]
    public void Spread_takes_the_most_free_memory_and_pack_the_least_that_fits()
    {
        var small = Host("small", 4, 1024);           // 512 free
        var medium = Host("medium", 4, 2048);         // 1536 free
        var large = Host("large", 4, 4096, allocated: new Resources(0, 1024, 0)); // 2560 free
        HostView[] hosts = [small, medium, large];

        var spread = Placement.Decide(hosts, new Resources(1, 768, 1), Weigher.Spread);
        var pack = Placement.Decide(hosts, new Resources(1, 768, 1), Weigher.Pack);

        Assert.Equal("large", spread.Chosen!.Name);
        Assert.Equal("medium", pack.Chosen!.Name);
        Assert.Contains(pack.PassedOver, p => p.HostName == "small" && p.Reason.StartsWith("memory: 768 MiB asked, 512 MiB free", StringComparison.Ordinal));
        Assert.Contains(pack.PassedOver, p => p.HostName == "large" && p.Reason.Contains("pack", StringComparison.Ordinal));
        Assert.Equal(2, spread.PassedOver.Count);
        Assert.Null(spread.Refusal);
    }

    [Fact]
    public void Ties_go_to_the_first_name_so_that_a_decision_repeats()
    {
        HostView[] hosts = [Host("b", 4, 2048), Host("a", 4, 2048)];

        Assert.Equal("a", Placement.Decide(hosts, new Resources(1, 256, 1), Weigher.Spread).Chosen!.Name);
        Assert.Equal("a", Placement.Decide(hosts, new Resources(1, 256, 1), Weigher.Pack).Chosen!.Name);
    }

    [Fact]
    public void When_nothing_fits_the_member_reads_a_plain_sentence()
    {
        HostView[] hosts = [Host("a", 4, 2048), Host("b", 4, 8192, maintenance: true)];

        var decision = Placement.Decide(hosts, new Resources(1, 16 * 1024, 1), Weigher.Spread);

        Assert.Null(decision.Chosen);
        Assert.Equal("No host can take 16 GiB of memory right now.", decision.Refusal);
        Assert.Equal(["a", "b"], decision.PassedOver.Select(p => p.HostName));
        Assert.Equal("No host can take 9 vCPUs right now.", Placement.Decide([Host("a", 2, 8192)], new Resources(9, 64, 1), Weigher.Spread).Refusal);
        Assert.Equal("No host can take a VM right now: none is available. Ask an admin.",
            Placement.Decide([Host("b", 4, 8192, maintenance: true)], new Resources(1, 64, 1), Weigher.Spread).Refusal);
        Assert.Equal("No host can take a VM right now: none is available. Ask an admin.",
            Placement.Decide([], new Resources(1, 64, 1), Weigher.Spread).Refusal);
    }

    [Fact]
    public void A_VM_that_needs_an_accelerator_goes_only_to_a_host_with_it()
    {
        HostView[] hosts = [Host("tcg-host", 4, 8192) with { Accelerator = "tcg" }, Host("kvm-host", 4, 4096) with { Accelerator = "kvm" }];

        Assert.Equal("kvm-host", Placement.Decide(hosts, new Resources(1, 256, 1), Weigher.Spread, "kvm").Chosen!.Name);
        Assert.Equal("no kvm (it has tcg)",
            Placement.Decide(hosts, new Resources(1, 256, 1), Weigher.Spread, "kvm").PassedOver.Single(p => p.HostName == "tcg-host").Reason);
        Assert.Equal("No host with whpx can take a VM right now.", Placement.Decide(hosts, new Resources(1, 256, 1), Weigher.Spread, "whpx").Refusal);
    }

    [Fact]
    public void Policies_are_checked()
    {
        Assert.Null(OvercommitPolicy.Validate(OvercommitPolicy.Default));
        Assert.Equal("RAM ratio: between 0.1 and 16.", OvercommitPolicy.Validate(new OvercommitPolicy { RamRatio = 0 }));
        Assert.Equal("Reserved CPUs: between 0 and 4096.", OvercommitPolicy.Validate(new OvercommitPolicy { ReservedCpus = -1 }));
    }

    [Fact]
    public void A_VM_keeps_ten_hosts_passed_over_the_runners_up_first_and_the_count_of_the_rest()
    {
        // 2,000 hosts: 1,500 full, 500 that fit; one of those is chosen.
        var hosts = Enumerable.Range(0, 2000).Select(i => Host($"h{i:0000}", 2, 4096, allocated: i < 1500 ? new Resources(0, 3584, 0) : default)).ToList();
        var decision = Placement.Decide(hosts, new Resources(1, 1024, 1), Weigher.Spread);

        var (kept, others) = decision.Kept();
        Assert.Equal(1999, decision.PassedOver.Count);
        Assert.Equal(PlacementDecision.KeptPassedOver, kept.Count);
        Assert.All(kept, p => Assert.True(p.Fitted, p.Reason));
        Assert.Equal(1989, others);
        Assert.EndsWith("; and 1989 more", decision.Described());
        Assert.Equal(2, Placement.Decide(hosts.Skip(1997).ToList(), new Resources(1, 1024, 1), Weigher.Spread).Kept().Kept.Count);
    }
}
