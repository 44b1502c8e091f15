using System.Globalization;
using Paddock.Engine.Recipes;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// How a migration under way reads on the VM page: its step and the source's phase in words, and
/// QEMU's figures in MiB, MiB/s and milliseconds.
/// </summary>
public static class MigrationText
{
    public static string Step(MigrationStep step) => step switch
    {
        MigrationStep.Preparing => "Preparing: the destination makes the disks and waits for the VM",
        MigrationStep.Moving => "Moving: the disks and the memory are copied while the VM runs",
        MigrationStep.Finishing => "Finishing: the VM switches over to the destination",
        MigrationStep.Cancelling => "Cancelling: the VM stays where it was",
        _ => step.ToString(),
    };

    public static string Phase(MigrationPhase phase) => phase switch
    {
        MigrationPhase.Setup => "Setting up",
        MigrationPhase.Disks => "Copying the disks",
        MigrationPhase.Memory => "Copying the memory",
        MigrationPhase.Switchover => "Switching over: the guest stands still",
        MigrationPhase.Completed => "Completed",
        _ => phase.ToString(),
    };

    /// <summary>The disks' copy in whole percent, 0 to 100 whatever QEMU's counters said.</summary>
    public static double DiskPercent(double percent) => double.IsFinite(percent) ? Math.Round(Math.Clamp(percent, 0, 100)) : 0;

    /// <summary>RAM moved, left and in all; before the memory phase there is nothing to say.</summary>
    public static string Ram(MigrationProgress progress) => progress.RamTotalBytes <= 0
        ? "not started"
        : $"{Sizes.Mib(progress.RamTransferredBytes)} moved, {Sizes.Mib(progress.RamRemainingBytes)} remaining, of {Sizes.Mib(progress.RamTotalBytes)}";

    /// <summary>How fast the guest writes to memory that was already sent (it must be sent again).</summary>
    public static string DirtyRate(long bytesPerSecond) => $"{Sizes.Mib(Math.Max(0, bytesPerSecond))}/s";

    public static string Downtime(TimeSpan? expected) =>
        expected is { } downtime ? string.Create(CultureInfo.InvariantCulture, $"{downtime.TotalMilliseconds:0} ms") : "not known yet";
}
