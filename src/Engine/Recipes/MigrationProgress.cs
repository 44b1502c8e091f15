namespace Paddock.Engine.Recipes;

/// <summary>Where a live migration stands, in the order the phases come.</summary>
public enum MigrationPhase
{
    /// <summary>Capabilities and parameters set; the disks' NBD targets being opened.</summary>
    Setup,

    /// <summary>Each disk mirrored into the destination's NBD export until all are in step with their source (and stay so: write-blocking).</summary>
    Disks,

    /// <summary>RAM moving while the guest runs (pre-copy, auto-converge throttling a guest that dirties faster).</summary>
    Memory,

    /// <summary>The guest stopped on the source: the last of RAM and the device state on their way.</summary>
    Switchover,

    /// <summary>The destination holds the whole VM; the source is stopped for good.</summary>
    Completed,
}

/// <summary>
/// What the VM page shows while a VM moves: the phase, how much of the disks is copied, RAM
/// transferred and remaining, how fast the guest dirties memory and the downtime QEMU expects.
/// RAM figures are zero until the memory phase.
/// </summary>
public sealed record MigrationProgress(
    MigrationPhase Phase,
    double DiskPercent,
    long RamTransferredBytes,
    long RamRemainingBytes,
    long RamTotalBytes,
    long DirtyBytesPerSecond,
    TimeSpan? ExpectedDowntime);

/// <summary>
/// A finished migration in QEMU's own figures (<see cref="TotalTime"/>, <see cref="SetupTime"/>,
/// <see cref="Downtime"/>: query-migrate's, from <c>migrate</c> to completion), beside how long the
/// disks took to come in step (<see cref="DiskMirrorTime"/>, before <c>migrate</c>) and what moved.
/// The guest's whole pause is <see cref="Downtime"/> plus the destination's <c>cont</c>.
/// </summary>
public sealed record MigrationFigures(
    TimeSpan DiskMirrorTime,
    long DiskBytes,
    TimeSpan TotalTime,
    TimeSpan SetupTime,
    TimeSpan Downtime,
    long RamTransferredBytes,
    long RamTotalBytes);

/// <summary>Hands progress on at most every interval, and at once when the phase changes.</summary>
internal sealed class ProgressThrottle(IProgress<MigrationProgress>? progress, TimeSpan interval)
{
    private MigrationPhase? _lastPhase;
    private long _lastReport;

    public void Report(MigrationProgress value)
    {
        if (progress is null)
        {
            return;
        }

        var now = Environment.TickCount64;
        if (value.Phase == _lastPhase && now - _lastReport < interval.TotalMilliseconds)
        {
            return;
        }

        (_lastPhase, _lastReport) = (value.Phase, now);
        progress.Report(value);
    }
}
