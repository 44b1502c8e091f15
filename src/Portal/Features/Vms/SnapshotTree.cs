namespace Paddock.Portal.Features.Vms;

/// <summary>A VM's snapshots as a tree: each under the snapshot it was taken from, siblings oldest first.</summary>
public static class SnapshotTree
{
    /// <summary>Depth-first order with each snapshot's depth; a snapshot whose parent is unknown is a root.</summary>
    public static IReadOnlyList<(VmSnapshot Snapshot, int Depth)> Flatten(IReadOnlyCollection<VmSnapshot> snapshots)
    {
        var names = snapshots.Select(s => s.Name).ToHashSet();
        var children = snapshots
            .GroupBy(s => s.Parent is { } parent && names.Contains(parent) ? parent : "")
            .ToDictionary(g => g.Key, g => g.OrderBy(s => s.TakenAt).ToList());
        var ordered = new List<(VmSnapshot, int)>(snapshots.Count);
        Visit("", 0);
        return ordered;

        void Visit(string parent, int depth)
        {
            foreach (var child in children.GetValueOrDefault(parent) ?? [])
            {
                ordered.Add((child, depth));
                Visit(child.Name, depth + 1);
            }
        }
    }
}
