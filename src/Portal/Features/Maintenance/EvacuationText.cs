using System.Globalization;
using Paddock.Engine.Recipes;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Maintenance;

/// <summary>An evacuation and each of its VMs in words, the same on the page and in the API.</summary>
public static class EvacuationText
{
    /// <summary>Where one VM stands: waiting, moving (with the move's phase), moved, failed with the reason, shut down.</summary>
    public static string Of(EvacuationItem item, VmMigration? migration, MigrationProgress? progress) => item.State switch
    {
        EvacuationItemState.Waiting when item.NotBefore is not null => $"waiting to try again: {item.Reason}",
        EvacuationItemState.Waiting => "waiting",
        EvacuationItemState.Moving => $"moving to {item.ToHost ?? migration?.ToHost ?? "another host"}: {Phase(migration, progress)}",
        EvacuationItemState.Moved => $"moved to {item.ToHost}",
        EvacuationItemState.ShuttingDown => "shutting down",
        EvacuationItemState.ShutDown => "shut down",
        EvacuationItemState.Failed => $"failed: {item.Reason}",
        _ => $"{(item.Intent == EvacuationIntent.ShutDown ? "not shut down" : "not moved")}: {item.Reason}",
    };

    /// <summary>How far a move got: the portal's step, and within the source's move the phase QEMU reports.</summary>
    public static string Phase(VmMigration? migration, MigrationProgress? progress) => migration?.Step switch
    {
        MigrationStep.Preparing => "preparing the destination",
        MigrationStep.Finishing => "starting there",
        MigrationStep.Cancelling => "calling off",
        _ => progress?.Phase switch
        {
            MigrationPhase.Disks => string.Create(CultureInfo.InvariantCulture, $"disks, {progress.DiskPercent:0}%"),
            MigrationPhase.Memory => string.Create(CultureInfo.InvariantCulture, $"memory, {SentPercent(progress):0}% sent"),
            MigrationPhase.Switchover => "switching over",
            MigrationPhase.Completed => "arrived",
            _ => "setting up",
        },
    };

    public static string Of(EvacuationState state) => state switch
    {
        EvacuationState.Running => "under way",
        EvacuationState.Cancelling => "cancelling",
        EvacuationState.Done => "done",
        _ => "cancelled",
    };

    /// <summary>"Evacuation of host-a" or "Bring-back to host-a".</summary>
    public static string Title(HostEvacuation evacuation) =>
        evacuation.Kind == EvacuationKind.BringBack ? $"Bring-back to {evacuation.HostName}" : $"Evacuation of {evacuation.HostName}";

    /// <summary>Memory sent of the guest's total: what is left to send counts down even when dirtied pages are sent again.</summary>
    private static double SentPercent(MigrationProgress progress) =>
        progress.RamTotalBytes <= 0 ? 0 : Math.Clamp(100.0 * (progress.RamTotalBytes - progress.RamRemainingBytes) / progress.RamTotalBytes, 0, 100);
}
