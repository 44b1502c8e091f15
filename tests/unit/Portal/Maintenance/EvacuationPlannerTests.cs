using Paddock.Portal.Features.Maintenance;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Maintenance;

/// <summary>
/// The plan an admin reads before entering maintenance: the host's running VMs placed one after the
/// other on the other hosts, each booked before the next; what cannot move and why; what stays.
/// </summary>
public sealed class EvacuationPlannerTests
{
    private const string Builtin = "builtin-busybox.qcow2";

    /// <summary>No reserved memory: a host's capacity is its memory.</summary>
    private static readonly OvercommitPolicy Policy = OvercommitPolicy.Default with { ReservedMemoryMiB = 0 };

    private static readonly HostView Leaving = Host("leaving", 64 * 1024);

    private static HostView Host(string name, long memoryMiB, int cpus = 4, Resources allocated = default, bool maintenance = false) =>
        new(Guid.NewGuid(), name, cpus, memoryMiB, 100 * 1024, Policy, allocated, Maintenance: maintenance);

    private static Vm Vm(string name, int memoryMiB, VmStatus status = VmStatus.Running, int vcpus = 1, Guid? on = null) => new()
    {
        Id = Guid.NewGuid(),
        Name = name,
        HostId = on ?? Leaving.Id,
        Status = status,
        MemoryMiB = memoryMiB,
        VCpus = vcpus,
        DiskBytes = 1024L * 1024 * 1024,
        BaseImage = "library.qcow2",
    };

    private static EvacuationPlan Plan(IReadOnlyList<HostView> others, params Vm[] vms) =>
        EvacuationPlanner.Plan(Leaving, [Leaving, .. others], vms, Weigher.Spread, Builtin);

    [Fact]
    public void Running_VMs_move_and_one_too_big_for_any_other_host_is_blocked_with_the_memory_it_needs()
    {
        var plan = Plan([Host("other", 1024)], Vm("a", 128), Vm("b", 128), Vm("c", 128), Vm("big", 1100));

        Assert.Equal(["a", "b", "c"], plan.Moves.Select(m => m.Name));
        Assert.All(plan.Moves, m => Assert.Equal("other", m.ToHost));
        var blocked = Assert.Single(plan.Blocked);
        Assert.Equal(("big", "no other host has 1100 MiB of memory free"), (blocked.Name, blocked.Reason));
    }

    [Fact]
    public void Each_VM_is_booked_before_the_next_is_placed_so_the_one_left_without_room_is_named()
    {
        // 512 MiB free: the first 384 MiB VM fits, the second finds 128 MiB left.
        var plan = Plan([Host("other", 1024, allocated: new Resources(0, 512, 0))], Vm("first", 384), Vm("second", 384));

        Assert.Equal("first", Assert.Single(plan.Moves).Name);
        Assert.Equal(("second", "no other host has 384 MiB of memory free"), (plan.Blocked[0].Name, plan.Blocked[0].Reason));
    }

    [Fact]
    public void Spread_sends_the_next_VM_to_the_host_the_last_one_left_with_more_room()
    {
        var plan = Plan([Host("x", 2048), Host("y", 1792)], Vm("a", 512), Vm("b", 512), Vm("c", 512));

        // x has the most free (2048), then y (1792 > 1536), then x again (1536 > 1280).
        Assert.Equal(["x", "y", "x"], plan.Moves.Select(m => m.ToHost));
    }

    [Fact]
    public void The_smallest_VMs_are_placed_first_so_the_fewest_are_left_behind()
    {
        var plan = Plan([Host("other", 1024)], Vm("large", 768), Vm("small-1", 256), Vm("small-2", 256), Vm("small-3", 256));

        Assert.Equal(["small-1", "small-2", "small-3"], plan.Moves.Select(m => m.Name));
        Assert.Equal("large", Assert.Single(plan.Blocked).Name);
    }

    [Fact]
    public void Stopped_saved_and_crashed_VMs_stay_and_paused_ones_move()
    {
        var plan = Plan([Host("other", 4096)], Vm("off", 256, VmStatus.Stopped), Vm("saved", 256, VmStatus.Saved), Vm("crashed", 256, VmStatus.Crashed),
            Vm("paused", 256, VmStatus.Paused));

        Assert.Equal([("crashed", "Crashed"), ("off", "Stopped"), ("saved", "Saved")], plan.Stays.Select(s => (s.Name, s.Status)));
        Assert.Equal("paused", Assert.Single(plan.Moves).Name);
        Assert.Empty(plan.Blocked);
    }

    [Fact]
    public void A_busy_VM_and_one_held_by_an_isolation_alert_are_blocked_with_the_reason()
    {
        var busy = Vm("busy", 256);
        busy.PendingOperation = Guid.NewGuid();
        busy.PendingVerb = Paddock.Engine.Contract.VmVerb.Snapshot;
        var held = Vm("held", 256);
        held.IsolationAlert = "label differs";
        var starting = Vm("starting", 256, VmStatus.Starting);
        starting.PendingOperation = Guid.NewGuid();
        starting.PendingVerb = Paddock.Engine.Contract.VmVerb.Start;

        var plan = Plan([Host("other", 4096)], busy, held, starting);

        Assert.Empty(plan.Moves);
        Assert.Equal(
            [("busy", "The VM is busy (snapshot); try again when it is done."), ("held", "The VM is held by an isolation alert; resolve it first."),
             ("starting", "The VM is busy (start); try again when it is done.")],
            plan.Blocked.Select(b => (b.Name, b.Reason)));
    }

    [Fact]
    public void A_VM_already_moving_goes_where_it_is_going_without_a_second_booking()
    {
        var other = Host("other", 512);
        var moving = Vm("moving", 512, VmStatus.Migrating);
        moving.Migration = new VmMigration(Guid.NewGuid(), Leaving.Id, "leaving", other.Id, "other", "token", MigrationStep.Moving, Guid.NewGuid(), DateTimeOffset.UnixEpoch);

        var plan = Plan([other with { Allocated = new Resources(1, 512, 1024) }], moving, Vm("next", 256));

        var move = Assert.Single(plan.Moves);
        Assert.Equal(("moving", "other"), (move.Name, move.ToHost));
        Assert.Equal("next", Assert.Single(plan.Blocked).Name);
    }

    [Fact]
    public void With_every_other_host_in_maintenance_nothing_can_move()
    {
        var plan = Plan([Host("other", 4096, maintenance: true)], Vm("a", 256));

        Assert.Equal("no other host takes VMs now (in maintenance, unreachable or unable to confine them)", Assert.Single(plan.Blocked).Reason);
        Assert.Equal("there is no other host", EvacuationPlanner.Plan(Leaving, [Leaving], [Vm("a", 256)], Weigher.Spread, Builtin).Blocked[0].Reason);
    }

    [Fact]
    public void The_shortfall_names_vCPUs_when_memory_is_not_what_is_short()
    {
        // 2 CPUs x ratio 4 = 8 vCPUs, 6 allocated.
        var plan = Plan([Host("other", 4096, cpus: 2, allocated: new Resources(6, 0, 0))], Vm("wide", 256, vcpus: 3));

        Assert.Equal("no other host has 3 vCPUs free", Assert.Single(plan.Blocked).Reason);
    }

    [Fact]
    public void A_VM_of_the_built_in_template_moves_only_to_a_host_that_has_its_image()
    {
        var vm = Vm("builtin", 256);
        vm.BaseImage = Builtin;

        var plan = Plan([Host("without", 4096) with { Images = [] }], vm);

        Assert.StartsWith("no other host fits it (without: no builtin-busybox.qcow2", Assert.Single(plan.Blocked).Reason);
    }

    [Fact]
    public void VMs_of_other_hosts_are_not_part_of_the_plan()
    {
        var other = Host("other", 4096);

        var plan = Plan([other], Vm("elsewhere", 256, on: other.Id));

        Assert.Empty(plan.Moves.Concat<object>(plan.Blocked).Concat(plan.Stays));
    }
}
