namespace Paddock.Portal.Features.Vms;

/// <summary>The VM's snapshots as its history records them: taken, reverted to, deleted.</summary>
public sealed partial class Vm
{
    public void Apply(VmSnapshotTaken e)
    {
        Snapshots.Add(new VmSnapshot(e.Name, e.WithMemory, e.At, CurrentSnapshot, e.StateBytes, e.Quiesced));
        CurrentSnapshot = e.Name;
    }

    public void Apply(VmSnapshotReverted e) => CurrentSnapshot = e.Name;

    public void Apply(VmSnapshotDeleted e)
    {
        // Its children hang from its parent now, as QEMU's snapshots stay valid without it.
        var parent = Snapshots.FirstOrDefault(s => s.Name == e.Name)?.Parent;
        Snapshots.RemoveAll(s => s.Name == e.Name);
        Snapshots = [.. Snapshots.Select(s => s.Parent == e.Name ? s with { Parent = parent } : s)];
        CurrentSnapshot = CurrentSnapshot == e.Name ? parent : CurrentSnapshot;
    }
}
