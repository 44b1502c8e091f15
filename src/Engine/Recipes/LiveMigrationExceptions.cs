namespace Paddock.Engine.Recipes;

/// <summary>A live migration failed; the message names what failed and QEMU's reason. Catch this for every migration failure at once.</summary>
public abstract class LiveMigrationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Copying disk <see cref="DiskId"/> to the destination failed: its NBD target could not be opened, or its mirror job failed.</summary>
public sealed class DiskMirrorFailedException(string diskId, string reason, Exception? inner = null)
    : LiveMigrationException($"Copying disk '{diskId}' to the destination failed: {reason}", inner)
{
    public string DiskId { get; } = diskId;

    public string Reason { get; } = reason;
}

/// <summary>QEMU could not move the VM's memory and device state; <see cref="Status"/> is query-migrate's (failed, cancelled).</summary>
public sealed class MemoryMigrationFailedException(string status, string reason, Exception? inner = null)
    : LiveMigrationException($"QEMU could not move the VM's memory ({status}): {reason}", inner)
{
    public string Status { get; } = status;

    public string Reason { get; } = reason;
}

/// <summary>A phase did not end within its limit (<see cref="LiveMigrationOptions"/>): a disk that never catches up, memory dirtied faster than it moves.</summary>
public sealed class MigrationTimeoutException(MigrationPhase phase, TimeSpan limit)
    : LiveMigrationException($"{Describe(phase)} took over {limit.TotalSeconds:0} s.")
{
    public MigrationPhase Phase { get; } = phase;

    public TimeSpan Limit { get; } = limit;

    private static string Describe(MigrationPhase phase) => phase switch
    {
        MigrationPhase.Disks => "Copying the disks to the destination",
        MigrationPhase.Memory => "Moving the VM's memory",
        _ => "Switching the VM over to the destination",
    };
}
