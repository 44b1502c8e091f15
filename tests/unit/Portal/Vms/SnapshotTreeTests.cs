using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms;

public sealed class SnapshotTreeTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static Vm Take(Vm vm, string name, int minute)
    {
        vm.Apply(new VmSnapshotTaken(name, WithMemory: true, Guid.NewGuid(), T0.AddMinutes(minute), StateBytes: 1000 + minute));
        return vm;
    }

    [Fact]
    public void A_snapshot_taken_after_a_revert_branches_from_the_snapshot_reverted_to()
    {
        var vm = Take(Take(new Vm(), "base", 0), "a", 1);
        vm.Apply(new VmSnapshotReverted("base", Guid.NewGuid(), T0.AddMinutes(2)));
        Take(vm, "b", 3);
        Take(vm, "b1", 4);

        var tree = SnapshotTree.Flatten(vm.Snapshots).Select(n => (n.Snapshot.Name, n.Depth)).ToList();

        Assert.Equal([("base", 0), ("a", 1), ("b", 1), ("b1", 2)], tree);
        Assert.Equal("b1", vm.CurrentSnapshot);
        Assert.Equal(1004, vm.Snapshots.Single(s => s.Name == "b1").StateBytes);
    }

    [Fact]
    public void Deleting_a_snapshot_hangs_its_children_from_its_parent()
    {
        var vm = Take(Take(Take(new Vm(), "base", 0), "middle", 1), "top", 2);

        vm.Apply(new VmSnapshotDeleted("middle", Guid.NewGuid(), T0.AddMinutes(3)));

        Assert.Equal([("base", 0), ("top", 1)], SnapshotTree.Flatten(vm.Snapshots).Select(n => (n.Snapshot.Name, n.Depth)).ToList());
        Assert.Equal("base", vm.Snapshots.Single(s => s.Name == "top").Parent);
    }

    [Fact]
    public void Deleting_the_current_snapshot_makes_its_parent_current() =>
        Assert.Equal("base", Delete(Take(Take(new Vm(), "base", 0), "top", 1), "top").CurrentSnapshot);

    [Fact]
    public void Snapshots_from_before_the_tree_was_kept_are_roots_in_time_order()
    {
        VmSnapshot[] old = [new("later", true, T0.AddMinutes(5)), new("earlier", false, T0)];

        Assert.Equal(["earlier", "later"], SnapshotTree.Flatten(old).Select(n => n.Snapshot.Name));
    }

    private static Vm Delete(Vm vm, string name)
    {
        vm.Apply(new VmSnapshotDeleted(name, Guid.NewGuid(), T0.AddHours(1)));
        return vm;
    }
}
