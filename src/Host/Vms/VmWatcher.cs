using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;

namespace Paddock.Host.Vms;

/// <summary>
/// Follows each QEMU until it exits: QMP events drive the VM's status, end-of-file on the monitor
/// is its end. A QEMU that ends without being asked to is reported Crashed and handed on through
/// <see cref="Crashed"/> (the supervisor decides about restarting it).
/// </summary>
public sealed class VmWatcher(IOptions<AgentOptions> options, VmReports reports, IHostApplicationLifetime lifetime, ILogger<VmWatcher> log)
{
    private readonly Channel<VmRuntime> _crashed = Channel.CreateUnbounded<VmRuntime>();

    /// <summary>VMs whose QEMU ended unexpectedly, once their crash has been reported.</summary>
    public ChannelReader<VmRuntime> Crashed => _crashed.Reader;

    /// <summary>Takes the VM's state from QEMU now, then follows its events in the background.</summary>
    public async Task WatchAsync(VmRuntime vm, QemuProcess process, QmpClient qmp, CancellationToken ct)
    {
        vm.Process = process;
        vm.Qmp = qmp;
        vm.Stopping = false;
        vm.Detail = null;
        vm.Exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        vm.State = (await qmp.QueryStatusAsync(ct)).PowerState;
        // The follower lives as long as the VM, not as long as this call.
        _ = Task.Run(() => FollowAsync(vm, process, qmp), CancellationToken.None);
    }

    private async Task FollowAsync(VmRuntime vm, QemuProcess process, QmpClient qmp)
    {
        try
        {
            await foreach (var e in qmp.Events.ReadAllAsync())
            {
                await OnEventAsync(vm, qmp, e);
            }
        }
        catch (QmpProtocolException e)
        {
            // QEMU broke QMP or flooded past the client's bounds: it is broken or hostile, and
            // without its monitor the agent cannot control it, so it ends here (and counts as crashed).
            log.LogWarning(e, "QEMU of VM {Vm} broke its monitor; killing it", vm.Id);
            process.Kill();
        }
        catch (Exception e) when (e is QmpException or IOException)
        {
            log.LogDebug(e, "Monitor of VM {Vm} ended", vm.Id);
        }

        // End-of-file on QMP: QEMU is gone (or going). The process table says when it is dead;
        // a zombie counts as dead because PID 1 here may never reap it.
        await process.WaitForExitAsync(TimeSpan.FromSeconds(5));
        await qmp.DisposeAsync();
        if (lifetime.ApplicationStopping.IsCancellationRequested && !options.Value.StopVmsOnExit)
        {
            return;
        }

        await RecordEndAsync(vm, process);
    }

    private async Task OnEventAsync(VmRuntime vm, QmpClient qmp, QmpEvent e)
    {
        switch (e.Name)
        {
            case "SHUTDOWN":
                // -no-shutdown keeps QEMU alive after the guest powers off; the agent decides.
                // For now a powered-off guest is a stopped VM.
                vm.Stopping = true;
                await qmp.TryAsync(q => q.QuitAsync(timeout: QmpCommands.Brief));
                break;
            case BlockIoError.EventName when BlockIoError.From(e) is { PausedForRoom: true } error:
                // The STOP that follows says why.
                log.LogWarning("VM {Vm}: a {Operation} on {Device} met a full file system; QEMU paused the guest", vm.Id, error.Operation, error.Device);
                vm.PausedForRoom = true;
                break;
            case "STOP" when !vm.Stopping && !vm.Saving:
                await reports.SetStateAsync(vm, VmPowerState.Paused, vm.PausedForRoom ? SpaceResumer.PausedDetail : null);
                break;
            case "RESUME":
                vm.PausedForRoom = false;
                await reports.SetStateAsync(vm, VmPowerState.Running);
                break;
            case "DEVICE_DELETED" when e.Data.TryGetProperty("device", out var device) && device.GetString() is { } id:
                vm.Unplugging.Deleted(id);
                break;
            case "RESET":
                vm.ResetSeen.TrySetResult();
                vm.ResetSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                break;
        }
    }

    /// <summary>QEMU has exited: a stop or a save when the agent ended it, a crash otherwise.</summary>
    private async Task RecordEndAsync(VmRuntime vm, QemuProcess process)
    {
        vm.Process = null;
        vm.Qmp = null;
        if (vm.Stopping)
        {
            await reports.SetStateAsync(vm, vm.Saving || File.Exists(vm.Paths.StateFile) ? VmPowerState.Saved : VmPowerState.Stopped);
            vm.Saving = false;
            vm.Exited.TrySetResult();
            return;
        }

        var tail = string.Join('\n', QemuProcess.ReadStderrTail(vm.Paths, 10));
        var code = process.DescribeExit();
        log.LogWarning("QEMU of VM {Vm} ended unexpectedly ({Code})", vm.Id, code);
        await reports.SetStateAsync(vm, VmPowerState.Crashed, $"QEMU ended unexpectedly ({code}). {tail}".Trim());
        vm.Exited.TrySetResult();
        _crashed.Writer.TryWrite(vm);
    }
}
