using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Recipes;

/// <summary>The destination's side: a QEMU started with <c>-incoming defer -S</c> on fresh disks.</summary>
public static partial class LiveMigration
{
    /// <summary>The destination's block export of <paramref name="disk"/>.</summary>
    internal static string Export(DiskSpec disk) => $"migrate-{disk.Id}";

    /// <summary>
    /// Makes the destination ready to receive: its NBD server on <paramref name="nbdSocket"/>, each
    /// of its fresh <paramref name="disks"/> exported writable under the disk's id (a linked clone's
    /// overlay already on its base, a blank disk of the same size), and the migration stream awaited
    /// on <paramref name="migrationSocket"/>. QEMU listens on both sockets, as the VM's uid.
    /// </summary>
    public static async Task PrepareDestinationAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks, string nbdSocket, string migrationSocket, CancellationToken ct)
    {
        await qmp.NbdServerStartAsync(nbdSocket, ct).ConfigureAwait(false);
        foreach (var disk in disks)
        {
            await qmp.BlockExportAddNbdAsync(Export(disk), disk.Id, disk.Id, writable: true, ct).ConfigureAwait(false);
        }

        await qmp.MigrateIncomingAsync($"unix:{migrationSocket}", ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Once the source step has succeeded: runs the guest here. <c>cont</c> comes first, so that QEMU
    /// starts the guest the moment the last of the stream is loaded (QEMU 7.2 exits when an incoming
    /// migration fails, so a half-loaded guest never runs); then the incoming migration is awaited
    /// and the NBD server closed (the disks were in step before the source stopped the guest).
    /// </summary>
    public static async Task ResumeDestinationAsync(QmpClient qmp, CancellationToken ct, LiveMigrationOptions? options = null)
    {
        options ??= LiveMigrationOptions.Default;
        await qmp.ContAsync(ct).ConfigureAwait(false);
        var silent = new ProgressThrottle(null, options.ProgressInterval);
        await WaitForMigrationAsync(qmp, MigrationPhase.Switchover, options.SwitchoverTimeout, silent, options, ct).ConfigureAwait(false);
        await qmp.NbdServerStopAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Tells the destination's QEMU to quit, whatever it was doing; it may be gone already. The caller
    /// waits for its exit (killing it if need be) and removes its disks.
    /// </summary>
    public static Task AbortDestinationAsync(QmpClient qmp) => qmp.TryAsync(q => q.QuitAsync(timeout: QmpCommands.Brief));
}
