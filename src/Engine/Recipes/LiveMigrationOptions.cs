namespace Paddock.Engine.Recipes;

/// <summary>How a live migration is paced and how long each phase may take.</summary>
public sealed record LiveMigrationOptions
{
    /// <summary>
    /// No bandwidth cap, as libvirt sends it (INT64_MAX rounded down to MiB): QEMU's own default caps
    /// the stream at 128 MiB/s, and the agents' channel paces it anyway.
    /// </summary>
    public const long Unlimited = long.MaxValue / (1024 * 1024) * (1024 * 1024);

    public static LiveMigrationOptions Default { get; } = new();

    /// <summary>QEMU's <c>max-bandwidth</c> for the RAM stream, bytes per second.</summary>
    public long MaxBandwidthBytesPerSecond { get; init; } = Unlimited;

    /// <summary>QEMU's <c>downtime-limit</c>: the pause it aims at when it decides to stop the guest (its default).</summary>
    public TimeSpan DowntimeLimit { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>How often query-block-jobs and query-migrate are asked while the guest runs.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// How often they are asked while the guest is stopped for the switchover, or about to be (QEMU
    /// expects a downtime within twice <see cref="DowntimeLimit"/>): every wait then adds to the
    /// guest's pause, and a query costs QEMU little.
    /// </summary>
    public TimeSpan SwitchoverPollInterval { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>At most one progress report per interval within a phase.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long the disks may take to come in step with their source.</summary>
    public TimeSpan MirrorTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>How long RAM and the device state may take to move; a guest that dirties faster than auto-converge can slow it fails here.</summary>
    public TimeSpan MemoryTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>How long the destination may take to load the last of the stream once the source has completed.</summary>
    public TimeSpan SwitchoverTimeout { get; init; } = TimeSpan.FromMinutes(2);
}
