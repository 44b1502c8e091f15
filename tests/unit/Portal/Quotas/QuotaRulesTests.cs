using Paddock.Portal.Features.Quotas;

namespace Paddock.Unit.Portal.Quotas;

public sealed class QuotaRulesTests
{
    private static readonly QuotaLimits Limits = new(Vms: 5, VCpus: 8, MemoryMiB: 8192, DiskMiB: 20 * 1024);

    [Fact]
    public void Quota_refuses_a_request_that_would_exceed_memory_with_the_numbers()
    {
        var shortfalls = QuotaRules.Check(Limits, new QuotaUsage(3, 3, 6144, 1024), QuotaUsage.OneVm(1, 4096, 128L * 1024 * 1024));

        var memory = Assert.Single(shortfalls);
        Assert.Equal(QuotaResource.Memory, memory.Resource);
        Assert.Equal("memory: requested 4096 MiB, in use 6144 of 8192 MiB", memory.Message);
        Assert.Equal("memory", memory.Field);
    }

    [Fact]
    public void Quota_admits_exactly_up_to_the_limit()
    {
        Assert.Empty(QuotaRules.Check(Limits, new QuotaUsage(4, 7, 4096, 10 * 1024), QuotaUsage.OneVm(1, 4096, 10L * 1024 * 1024 * 1024)));
        Assert.Equal(QuotaResource.Vms, Assert.Single(QuotaRules.Check(Limits, new QuotaUsage(5, 0, 0, 0), QuotaUsage.OneVm(1, 64, 1))).Resource);
    }

    [Fact]
    public void Quota_names_every_resource_short_and_the_group_it_belongs_to()
    {
        var shortfalls = QuotaRules.Check(Limits, new QuotaUsage(5, 8, 8192, 20 * 1024), QuotaUsage.OneVm(2, 512, 2L * 1024 * 1024 * 1024), "group 'lab'");

        Assert.Equal([QuotaResource.Vms, QuotaResource.VCpus, QuotaResource.Memory, QuotaResource.Disk], shortfalls.Select(s => s.Resource));
        Assert.Equal("VMs of group 'lab': requested 1 VM, in use 5 of 5 VMs", shortfalls[0].Message);
        Assert.Equal("vCPUs of group 'lab': requested 2 vCPUs, in use 8 of 8 vCPUs", shortfalls[1].Message);
        Assert.Equal("disk of group 'lab': requested 2 GiB, in use 20 GiB of 20 GiB", shortfalls[3].Message);
    }

    [Fact]
    public void No_limit_never_refuses()
    {
        Assert.Empty(QuotaRules.Check(QuotaLimits.None, new QuotaUsage(1000, 1000, 1 << 30, 1 << 30), QuotaUsage.OneVm(16, 65536, 1L << 40)));
    }

    [Fact]
    public void A_growth_that_asks_nothing_of_a_resource_is_not_refused_for_it()
    {
        // Over the VM count already (an admin lowered it), a VM may still grow its disk.
        Assert.Empty(QuotaRules.Check(Limits, new QuotaUsage(9, 1, 256, 1024), new QuotaUsage(0, 0, 0, 1024)));
    }

    [Fact]
    public void Raising_to_fit_raises_only_what_is_short_and_only_as_far_as_needed()
    {
        var raised = QuotaRules.RaisedToFit(Limits, new QuotaUsage(5, 2, 6144, 1024), QuotaUsage.OneVm(1, 4096, 1024L * 1024 * 1024));

        Assert.Equal(new QuotaLimits(6, 8, 10240, 20 * 1024), raised);
        Assert.Empty(QuotaRules.Check(raised, new QuotaUsage(5, 2, 6144, 1024), QuotaUsage.OneVm(1, 4096, 1024L * 1024 * 1024)));
    }

    [Fact]
    public void Disk_sizes_round_up_to_whole_MiB_and_read_in_GiB_when_large()
    {
        Assert.Equal(1, QuotaUsage.OneVm(1, 64, 1).DiskMiB);
        Assert.Equal(128, QuotaUsage.OneVm(1, 64, 128L * 1024 * 1024).DiskMiB);
        Assert.Equal("128 MiB", QuotaRules.Disk(128));
        Assert.Equal("1536 MiB", QuotaRules.Disk(1536));
        Assert.Equal("2 GiB", QuotaRules.Disk(2048));
        Assert.Equal("12.5 GiB", QuotaRules.Disk(12800));
    }
}

public sealed class FlavorAvailabilityTests
{
    private static System.Security.Claims.ClaimsPrincipal User(string role) => new(new System.Security.Claims.ClaimsIdentity(
        [new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.NameIdentifier, Guid.NewGuid().ToString()),
            new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Role, role)], "test"));

    [Fact]
    public void A_flavor_for_some_groups_is_offered_to_their_members_and_admins_only()
    {
        var lab = Guid.NewGuid();
        var everyone = new Paddock.Portal.Features.Flavors.Flavor { Name = "small" };
        var labOnly = new Paddock.Portal.Features.Flavors.Flavor { Name = "big", GroupIds = [lab] };

        Assert.True(Paddock.Portal.Features.Flavors.FlavorService.MayUse(everyone, User("member"), []));
        Assert.False(Paddock.Portal.Features.Flavors.FlavorService.MayUse(labOnly, User("member"), [Guid.NewGuid()]));
        Assert.True(Paddock.Portal.Features.Flavors.FlavorService.MayUse(labOnly, User("member"), [lab]));
        Assert.True(Paddock.Portal.Features.Flavors.FlavorService.MayUse(labOnly, User("admin"), []));
    }
}
