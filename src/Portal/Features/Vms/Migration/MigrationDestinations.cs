using Paddock.Portal.Features.Placement;

namespace Paddock.Portal.Features.Vms;

/// <summary>A host an admin may name as a migration's destination, or why it cannot be one now.</summary>
/// <param name="Unavailable">Why the host takes no VM now ("in maintenance", "unreachable"); null when it may.</param>
public sealed record MigrationDestination(Guid Id, string Name, string? Unavailable);

/// <summary>The hosts a VM may be moved to, as the Migrate dialog offers them. Whether one has room is placement's to say.</summary>
public static class MigrationDestinations
{
    /// <summary>Every host but the one the VM runs on, by name; those that take no VM now say why.</summary>
    public static IReadOnlyList<MigrationDestination> Of(IEnumerable<HostView> hosts, Guid currentHostId) =>
        [.. hosts.Where(h => h.Id != currentHostId).OrderBy(h => h.Name, StringComparer.OrdinalIgnoreCase)
            .Select(h => new MigrationDestination(h.Id, h.Name, !h.Reachable ? "unreachable" : h.Maintenance ? "in maintenance" : null))];

    /// <summary>What the destination's list says of <paramref name="destination"/>.</summary>
    public static string Label(MigrationDestination destination) =>
        destination.Unavailable is { } why ? $"{destination.Name} ({why})" : destination.Name;
}
