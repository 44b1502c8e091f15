using System.Collections.Concurrent;
using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;

namespace Paddock.Host.Vms;

/// <summary>
/// QEMUs found running at re-attach whose monitor did not answer (stopped by a signal, or stuck in
/// a host call). Such a VM shows Crashed with the reason, and the agent asks its QEMU again, with
/// growing waits, for as long as that QEMU lives and nothing took the VM over: once it answers, the
/// VM is re-attached and reports its true state. Start, Power off, Restore and Delete end a silent
/// QEMU first (<see cref="EndAsync"/>): it still holds the VM's disks.
/// </summary>
public sealed class SilentQemus(VmWatcher watcher, VmReports reports, ILogger<SilentQemus> log)
{
    /// <summary>The longest wait between two tries.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    /// <summary>How long one try waits for QEMU's greeting.</summary>
    private static readonly TimeSpan Try = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Guid, QemuProcess> _silent = new();

    /// <summary>Verbs that take the VM over (and so end its silent QEMU first).</summary>
    public static bool TakesOver(VmVerb verb) => verb is VmVerb.Start or VmVerb.PowerOff or VmVerb.Restore or VmVerb.Delete;

    /// <summary>Records <paramref name="process"/> as the VM's silent QEMU and keeps asking it.</summary>
    public void Follow(VmRuntime vm, QemuProcess process, CancellationToken ct)
    {
        _silent[vm.Id] = process;
        _ = Task.Run(() => AskAsync(vm, process, ct), CancellationToken.None);
    }

    /// <summary>Kills the VM's silent QEMU, if it has one, and waits for it to go: the VM is Stopped.</summary>
    public async Task EndAsync(VmRuntime vm)
    {
        if (_silent.TryRemove(vm.Id, out var process))
        {
            log.LogWarning("Ending VM {Vm}'s QEMU (pid {Pid}), which never answered its monitor", vm.Id, process.Pid);
            process.Kill();
            await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
            await reports.SetStateAsync(vm, VmPowerState.Stopped);
        }
    }

    private async Task AskAsync(VmRuntime vm, QemuProcess process, CancellationToken ct)
    {
        var wait = TimeSpan.FromSeconds(2);
        var tries = 0;
        while (!ct.IsCancellationRequested && process.IsRunning && _silent.TryGetValue(vm.Id, out var still) && still == process)
        {
            await Task.Delay(wait, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            wait = wait * 2 > MaxWait ? MaxWait : wait * 2;
            tries++;
            try
            {
                var qmp = await process.ConnectQmpAsync(ct, Try);
                if (!_silent.TryRemove(new KeyValuePair<Guid, QemuProcess>(vm.Id, process)))
                {
                    // Taken over meanwhile: this QEMU is being ended.
                    await qmp.DisposeAsync();
                    return;
                }

                await watcher.WatchAsync(vm, process, qmp, ct);
                await reports.SendAsync(vm);
                log.LogInformation("Re-attached to VM {Vm} (pid {Pid}) after {Tries} more tries: its monitor answers again", vm.Id, process.Pid, tries);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogDebug("VM {Vm}'s QEMU still does not answer: {Message}", vm.Id, e.Message);
            }
        }

        if (!process.IsRunning && _silent.TryRemove(new KeyValuePair<Guid, QemuProcess>(vm.Id, process)))
        {
            await reports.SetStateAsync(vm, VmPowerState.Crashed, $"QEMU (pid {process.Pid}) ended without its monitor answering again.");
        }
    }
}
