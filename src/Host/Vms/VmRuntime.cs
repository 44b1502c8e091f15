using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>What the agent holds of one VM: its spec, its QEMU if one runs, and what was last observed.</summary>
internal sealed class VmRuntime(Guid id, VmPaths paths)
{
    public Guid Id { get; } = id;

    public VmPaths Paths { get; } = paths;

    public VmSpec? Spec { get; set; }

    public QemuProcess? Process { get; set; }

    public QmpClient? Qmp { get; set; }

    public VmPowerState State { get; set; } = VmPowerState.Creating;

    public string? Detail { get; set; }

    /// <summary>Which noisy-neighbour limits were applied at the last start, and which not.</summary>
    public string? LimitsNote { get; set; }

    /// <summary>Set when the agent itself ends QEMU (power off, quit after a guest shutdown), so its exit is no crash.</summary>
    public bool Stopping { get; set; }

    /// <summary>Set while Save ends QEMU: its end leaves the VM Saved.</summary>
    public bool Saving { get; set; }

    /// <summary>Completes when the current QEMU has exited and its end has been recorded.</summary>
    public TaskCompletionSource Exited { get; set; } = Finished();

    /// <summary>Cancelled by Power off and Reset: they interrupt a Shutdown or Reboot that waits for the guest.</summary>
    public CancellationTokenSource Interruptible { get; set; } = new();

    /// <summary>Completes at the next RESET event of this QEMU (a guest reboot or a reset).</summary>
    public TaskCompletionSource ResetSeen { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Devices QEMU was asked to unplug, by qdev id: completed by their DEVICE_DELETED event.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> Unplugging { get; } = new();

    /// <summary>When the agent restarted this VM after a crash, for the per-hour limit.</summary>
    public List<DateTimeOffset> Restarts { get; } = [];

    /// <summary>One mutating step at a time; never held while waiting for the guest.</summary>
    public SemaphoreSlim Lock { get; } = new(1, 1);

    public bool IsRunning => Process is { IsRunning: true };

    public static TaskCompletionSource Finished()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }
}
