using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>What the agent holds of one VM: its spec, its QEMU if one runs, and what was last observed.</summary>
public sealed class VmRuntime(Guid id, VmPaths paths)
{
    public Guid Id { get; } = id;

    public VmPaths Paths { get; } = paths;

    public VmSpec? Spec { get; set; }

    /// <summary>Why the agent holds no spec for a VM whose run directory is here (its spec.json did not read); null otherwise.</summary>
    public string? RecordProblem { get; set; }

    public QemuProcess? Process { get; set; }

    public QmpClient? Qmp { get; set; }

    public VmPowerState State { get; set; } = VmPowerState.Creating;

    public string? Detail { get; set; }

    /// <summary>Which noisy-neighbour limits were applied at the last start, and which not.</summary>
    public string? LimitsNote { get; set; }

    /// <summary>Set when the agent itself ends QEMU (power off, quit after a guest shutdown), so its exit is no crash.</summary>
    public bool Stopping { get; set; }

    /// <summary>The migration this host takes part in for the VM (as its source or its destination), if one.</summary>
    public Migration.MigrationState? Migration { get; set; }

    /// <summary>Set when QEMU paused the guest because a disk write met a full host file system; cleared when it runs again (<see cref="SpaceResumer"/>).</summary>
    public bool PausedForRoom { get; set; }

    /// <summary>Set while Save ends QEMU: its end leaves the VM Saved.</summary>
    public bool Saving { get; set; }

    /// <summary>Completes when the current QEMU has exited and its end has been recorded.</summary>
    public TaskCompletionSource Exited { get; set; } = Finished();

    /// <summary>Cancelled by Power off and Reset: they interrupt a Shutdown or Reboot that waits for the guest.</summary>
    public CancellationTokenSource Interruptible { get; set; } = new();

    /// <summary>Completes at the next RESET event of this QEMU (a guest reboot or a reset).</summary>
    public TaskCompletionSource ResetSeen { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Devices QEMU was asked to unplug: completed by their DEVICE_DELETED event.</summary>
    public DeviceRemovals Unplugging { get; } = new();

    /// <summary>When the agent restarted this VM after a crash, for the per-hour limit.</summary>
    public List<DateTimeOffset> Restarts { get; } = [];

    /// <summary>One mutating step at a time; never held while waiting for the guest.</summary>
    public SemaphoreSlim Lock { get; } = new(1, 1);

    public bool IsRunning => Process is { IsRunning: true };

    /// <summary>Ends the VM's migration on this host, if one: its channels end and its state goes.</summary>
    public async Task EndMigrationAsync()
    {
        if (Migration is { } migration)
        {
            Migration = null;
            await migration.EndChannelsAsync();
            migration.Dispose();
        }
    }

    /// <summary>The spec, for operations that need the VM created here.</summary>
    public VmSpec CreatedSpec => Spec ?? throw new InvalidOperationException("The VM has not been created on this host.");

    /// <summary>The monitor of the QEMU that runs now, for operations that need one.</summary>
    public QmpClient RunningMonitor() =>
        IsRunning && Qmp is { } qmp ? qmp : throw new InvalidOperationException("The VM is not running.");

    /// <summary>Ends QEMU: quit, then kill. Its end is recorded as a stop (or a save), not as a crash.</summary>
    public async Task<string?> PowerOffAsync()
    {
        if (Process is not { } process || !process.IsRunning)
        {
            return "Already stopped.";
        }

        var exited = Exited.Task;
        Stopping = true;
        await PowerSequences.PowerOffAsync(Qmp, exited, () => process.Kill());
        return null;
    }

    /// <summary>Power off and Reset are the way out of a hung guest: they end a Shutdown or Reboot that is waiting.</summary>
    public async Task InterruptWaitsAsync()
    {
        var waiting = Interruptible;
        Interruptible = new CancellationTokenSource();
        await waiting.CancelAsync();
        waiting.Dispose();
    }

    public static TaskCompletionSource Finished()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }
}
