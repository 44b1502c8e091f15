using System.Collections.Concurrent;
using Paddock.Engine.Recipes;

namespace Paddock.Portal.Features.Vms;

/// <summary>A migrating VM's latest progress arrived (a few times a second; the board that holds it is this process's).</summary>
[LocalChange]
public sealed record MigrationProgressed(Guid VmId);

/// <summary>
/// The latest progress of each migration under way, as the source's agent reports it a few times a
/// second. Kept in memory only: it is worth nothing once the move is over (the task keeps the figures).
/// </summary>
public sealed class MigrationBoard(ChangeNotifier<MigrationProgressed> changes)
{
    private readonly ConcurrentDictionary<Guid, (Guid MigrationId, MigrationProgress Progress)> _latest = new();

    public void Report(Guid vmId, Guid migrationId, MigrationProgress progress)
    {
        _latest[vmId] = (migrationId, progress);
        changes.Publish(new MigrationProgressed(vmId));
    }

    /// <summary>The latest progress of migration <paramref name="migrationId"/> of the VM, if any arrived.</summary>
    public MigrationProgress? Of(Guid vmId, Guid migrationId) =>
        _latest.TryGetValue(vmId, out var latest) && latest.MigrationId == migrationId ? latest.Progress : null;

    public void Forget(Guid vmId) => _latest.TryRemove(vmId, out _);
}
