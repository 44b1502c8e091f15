using System.Diagnostics;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;
using Paddock.Host.Node;
using Paddock.Host.Portal;
using Paddock.Host.Vms.Operations;

namespace Paddock.Host.Vms;

/// <summary>
/// Takes VM commands on this host: answers a resend from the journal, runs each command's
/// operation (one file per verb under Operations/) and reports its outcome. At start it re-attaches
/// to the VMs that kept running while the agent was away; it restarts crashed VMs their policy says to.
/// </summary>
public sealed class VmSupervisor(
    IOptions<AgentOptions> options,
    OperationJournal journal,
    VmTable vms,
    VmFiles files,
    VmWatcher watcher,
    SilentQemus silent,
    VmReports reports,
    IPortalReporter portal,
    IEnumerable<IVmOperation> operations,
    StartVm start,
    ImageCache cache,
    DiskSpaceGuard space,
    Networks.NetworkKeeper networks,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<VmSupervisor> log) : BackgroundService
{
    private readonly Dictionary<VmVerb, IVmOperation> _operations = operations.ToDictionary(o => o.Verb);
    private readonly TaskCompletionSource _attached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Takes a command at once; its progress and outcome are reported through the hub.</summary>
    public CommandAck Accept(VmCommand command)
    {
        if (journal.Outcome(command.OperationId) is { } outcome)
        {
            // A resend of something finished: answer with its first outcome, do not do it twice.
            _ = portal.ReportOperationAsync(outcome);
            return CommandAck.Accept(command.OperationId);
        }

        if (command.Verb == VmVerb.Create && command.Spec is null)
        {
            return CommandAck.Refuse(command.OperationId, "Create needs a VM spec.");
        }

        if (!journal.TryBegin(command.OperationId))
        {
            return CommandAck.Accept(command.OperationId);
        }

        var vm = vms.GetOrAdd(command.VmId);
        _ = Task.Run(() => RunAsync(vm, command));
        return CommandAck.Accept(command.OperationId);
    }

    /// <summary>The truth about every VM on this host, for registration.</summary>
    public async Task<IReadOnlyList<VmReport>> ReportAllAsync(CancellationToken ct)
    {
        await _attached.Task.WaitAsync(ct);
        return [.. vms.All.Select(reports.Of)];
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await ReattachAllAsync(stoppingToken);
            await ReconcileNetworksAsync(stoppingToken);
            // Also tightens images a former agent left readable by all. A host that cannot set
            // ACLs stops here, saying what it lacks, rather than serve VMs each other's images.
            await files.ShareImagesAsync(Directory.EnumerateFiles(cache.Root).Select(Path.GetFileName).OfType<string>(), stoppingToken);
        }
        finally
        {
            _attached.TrySetResult();
        }

        await foreach (var vm in watcher.Crashed.ReadAllAsync(stoppingToken))
        {
            _ = Task.Run(() => RestartAfterCrashAsync(vm), CancellationToken.None);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        foreach (var vm in vms.All)
        {
            if (options.Value.StopVmsOnExit && vm.IsRunning)
            {
                await vm.PowerOffAsync();
            }
            else if (vm.Qmp is { } qmp)
            {
                // Closing our monitor connection leaves QEMU running; the next agent re-attaches.
                vm.Stopping = true;
                await qmp.DisposeAsync();
            }
        }
    }

    /// <summary>After a restart: the running VMs' networks as they were (bridges, dnsmasq, walls), nothing doubled.</summary>
    private async Task ReconcileNetworksAsync(CancellationToken ct)
    {
        try
        {
            await networks.ReconcileAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError("The networks could not be made again: {Message}", e.Message);
        }
    }

    /// <summary>How many VMs are re-attached at once: a QEMU whose monitor hangs holds up only itself, for its connect timeout.</summary>
    private const int ReattachAtOnce = 16;

    private async Task ReattachAllAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(options.Value.VmsDir);
        var ids = Directory.EnumerateDirectories(options.Value.VmsDir)
            .Select(d => Guid.TryParse(Path.GetFileName(d), out var id) ? id : Guid.Empty).Where(id => id != Guid.Empty).ToList();
        var took = System.Diagnostics.Stopwatch.StartNew();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = ReattachAtOnce, CancellationToken = ct }, async (id, token) =>
        {
            var vm = vms.New(id);
            if (Leftovers.Sweep(vm.Paths) is > 0 and var swept)
            {
                log.LogWarning("Removed {Count} half-written files an interrupted operation left in VM {Vm}'s directory", swept, id);
            }

            try
            {
                await ReattachAsync(vm, token);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One VM the agent cannot make sense of does not keep it from the others.
                log.LogError(e, "VM {Vm} could not be re-attached", id);
                vm.State = VmPowerState.Crashed;
                vm.Detail = $"The agent could not take this VM up again after its restart: {e.Message}";
                vms.Add(vm);
            }
        });
        if (cache.SweepPartials() is > 0 and var partials)
        {
            log.LogWarning("Removed {Count} half-written images an interrupted fetch or conversion left in the image cache", partials);
        }

        log.LogInformation("Re-attached {Running} running VMs of {Count} in {Ms} ms", vms.All.Count(v => v.IsRunning), ids.Count, took.ElapsedMilliseconds);
    }

    private async Task ReattachAsync(VmRuntime vm, CancellationToken ct)
    {
        if (!File.Exists(vm.Paths.SpecFile))
        {
            // Create never finished: nothing of it is usable, and the portal will send it again.
            return;
        }

        vm.Spec = await files.ReadSpecAsync(vm, ct);
        vm.State = File.Exists(vm.Paths.StateFile) ? VmPowerState.Saved : VmPowerState.Stopped;
        vms.Add(vm);
        if (QemuProcess.Attach(vm.Id, vm.Paths) is not { } process)
        {
            return;
        }

        try
        {
            var qmp = await process.ConnectQmpAsync(ct);
            await watcher.WatchAsync(vm, process, qmp, ct);
            // A migration's destination whose guest never ran here: its end is no crash to restart from.
            vm.Stopping = File.Exists(vm.Paths.IncomingMarker);
            log.LogInformation("Re-attached to VM {Vm} (pid {Pid})", vm.Id, process.Pid);
            await SettleCutShortAsync(vm, process, qmp, ct);
        }
        catch (Exception e) when (e is QmpException or IOException or TimeoutException)
        {
            log.LogWarning(e, "VM {Vm} runs as pid {Pid} but its monitor does not answer", vm.Id, process.Pid);
            vm.State = VmPowerState.Crashed;
            vm.Detail = $"QEMU (pid {process.Pid}) runs but its monitor does not answer ({e.Message}); the agent keeps asking it. Start or Delete ends it.";
            silent.Follow(vm, process, ct);
        }
    }

    /// <summary>
    /// A QEMU the last agent died in the middle of starting, saving or restoring. One whose guest never
    /// ran (held at start to take its NICs) or that still waits for its saved state is ended: the
    /// VM is Stopped or Saved again, and the portal's resend starts or restores it afresh. One whose
    /// save had ended (its state all sent away) is ended too: the VM is Saved. A restore that had
    /// ended leaves a spent state, which goes: starting from it again would fork the guest's history.
    /// </summary>
    private async Task SettleCutShortAsync(VmRuntime vm, QemuProcess process, Engine.Qmp.QmpClient qmp, CancellationToken ct)
    {
        if (File.Exists(vm.Paths.IncomingMarker))
        {
            return;
        }

        var saved = File.Exists(vm.Paths.StateFile);
        var status = await qmp.QueryStatusAsync(ct);
        if (status.NeverRan || saved && (status.AwaitsIncoming || status.SentAway))
        {
            log.LogWarning("VM {Vm}: the last agent died {When}; its QEMU is ended and the VM stays {State}", vm.Id,
                status.NeverRan ? "while starting it" : status.SentAway ? "as a save ended" : "while restoring the saved state", saved ? "Saved" : "Stopped");
            vm.Stopping = true;
            process.Kill();
            await vm.Exited.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
        else if (saved)
        {
            File.Delete(vm.Paths.StateFile);
            log.LogWarning("VM {Vm}: the restore the last agent was running had ended; its spent saved state is removed", vm.Id);
        }
    }

    /// <summary>Runs one command to its end, then records and reports the outcome.</summary>
    private async Task RunAsync(VmRuntime vm, VmCommand command)
    {
        var ct = lifetime.ApplicationStopping;
        using var span = AgentTracing.Operation(command);
        OperationReport outcome;
        // One line per run: the fault suite counts them by operation id (a resend must never run again).
        log.LogInformation("Running {Verb} of VM {Vm} as operation {Operation}", command.Verb, command.VmId, command.OperationId);
        try
        {
            space.CheckRoom(command.Verb);
            if (SilentQemus.TakesOver(command.Verb))
            {
                await silent.EndAsync(vm);
            }

            var operation = _operations.GetValueOrDefault(command.Verb) ?? throw new InvalidOperationException($"Unknown verb {command.Verb}.");
            var done = await operation.RunAsync(vm, command, ct);
            outcome = new OperationReport(command.OperationId, command.VmId, OperationState.Succeeded, done.Message, done.Result);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The agent is stopping: the operation is not finished, so a resend will carry it out.
            return;
        }
        catch (Exception e)
        {
            log.LogWarning(e, "{Verb} of VM {Vm} failed", command.Verb, command.VmId);
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            outcome = new OperationReport(command.OperationId, command.VmId, OperationState.Failed, e.Message, Tampering: TamperingException.IsCause(e));
        }

        try
        {
            journal.Finish(outcome);
        }
        catch (IOException e)
        {
            // Not kept (the disk is full, say): reported once all the same; a resend runs the operation again.
            log.LogError("The outcome of {Verb} of VM {Vm} could not be journaled: {Message}", command.Verb, command.VmId, e.Message);
        }

        await portal.ReportOperationAsync(outcome);
    }

    /// <summary>The VM's restart policy, carried out by the agent alone so it holds while the portal is away.</summary>
    private async Task RestartAfterCrashAsync(VmRuntime vm)
    {
        if (vm.Spec is not { Restart: RestartPolicy.OnCrash } spec)
        {
            return;
        }

        if (!RestartBudget.TryTake(vm.Restarts, clock.GetUtcNow(), spec.MaxRestartsPerHour))
        {
            await reports.SetStateAsync(vm, VmPowerState.Crashed, $"{vm.Detail} Not restarted: {spec.MaxRestartsPerHour} restarts in the last hour already.");
            return;
        }

        try
        {
            await start.StartAsync(vm, lifetime.ApplicationStopping);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "Restarting VM {Vm} after a crash failed", vm.Id);
            await reports.SetStateAsync(vm, VmPowerState.Crashed, $"Restart after the crash failed: {e.Message}");
        }
    }
}
