using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Engine.Images;
using Paddock.Engine.Isolation;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;
using Paddock.Host.Portal;

namespace Paddock.Host.Vms;

/// <summary>
/// Carries out VM commands on this host and watches every QEMU: status changes come from QMP
/// events and process exit, and are pushed to the portal. At start it re-attaches to the VMs that
/// kept running while the agent was away.
/// </summary>
public sealed partial class VmSupervisor(
    IOptions<AgentOptions> options,
    OperationJournal journal,
    IServiceProvider services,
    ImageCache cache,
    ResourceLimiter limiter,
    ConfinementGuard guard,
    TimeProvider clock,
    ILogger<VmSupervisor> log) : BackgroundService
{
    private static readonly TimeSpan ShutdownReask = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PowerOffGrace = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<Guid, VmRuntime> _vms = new();
    private readonly TaskCompletionSource _attached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ImageStore _images = new(Directory.CreateDirectory(options.Value.ImagesDir).FullName);
    private readonly DiskImages _disks = new();

    public AcceleratorChoice Accelerator { get; } = Accelerators.Detect(options.Value.Accelerator);

    // Resolved lazily: the connection needs the supervisor and the supervisor reports through it.
    private IPortalReporter Reporter => services.GetRequiredService<IPortalReporter>();

    /// <summary>Takes a command at once; its progress and outcome are reported through the hub.</summary>
    public CommandAck Accept(VmCommand command)
    {
        if (journal.Outcome(command.OperationId) is { } outcome)
        {
            // A resend of something finished: answer with its first outcome, do not do it twice.
            _ = Reporter.ReportOperationAsync(outcome);
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

        var vm = _vms.GetOrAdd(command.VmId, id => new VmRuntime(id, VmPaths.For(options.Value.VmsDir, id)));
        _ = Task.Run(() => RunAsync(vm, command));
        return CommandAck.Accept(command.OperationId);
    }

    /// <summary>The QEMU process of every VM that runs now, for the usage report.</summary>
    public IReadOnlyList<(Guid VmId, int Pid)> RunningProcesses() =>
        [.. _vms.Values.Where(v => v.IsRunning).Select(v => (v.Id, v.Process!.Pid))];

    /// <summary>The truth about every VM on this host, for registration.</summary>
    public async Task<IReadOnlyList<VmReport>> ReportAllAsync(CancellationToken ct)
    {
        await _attached.Task.WaitAsync(ct);
        return [.. _vms.Values.Select(Snapshot)];
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await ReattachAllAsync(stoppingToken);
        }
        finally
        {
            _attached.TrySetResult();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await base.StopAsync(cancellationToken);
        foreach (var vm in _vms.Values)
        {
            if (options.Value.StopVmsOnExit && vm.IsRunning)
            {
                await PowerOffAsync(vm);
            }
            else if (vm.Qmp is { } qmp)
            {
                // Closing our monitor connection leaves QEMU running; the next agent re-attaches.
                vm.Stopping = true;
                await qmp.DisposeAsync();
            }
        }
    }

    private async Task ReattachAllAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(options.Value.VmsDir);
        foreach (var directory in Directory.EnumerateDirectories(options.Value.VmsDir))
        {
            if (!Guid.TryParse(Path.GetFileName(directory), out var id))
            {
                continue;
            }

            var vm = new VmRuntime(id, VmPaths.For(options.Value.VmsDir, id));
            if (!File.Exists(vm.Paths.SpecFile))
            {
                // Create never finished: nothing of it is usable, and the portal will send it again.
                continue;
            }

            vm.Spec = JsonSerializer.Deserialize<VmSpec>(await File.ReadAllTextAsync(vm.Paths.SpecFile, ct));
            vm.State = File.Exists(vm.Paths.StateFile) ? VmPowerState.Saved : VmPowerState.Stopped;
            _vms[id] = vm;
            if (QemuProcess.Attach(id, vm.Paths) is { } process)
            {
                try
                {
                    var qmp = await process.ConnectQmpAsync(ct);
                    await WatchAsync(vm, process, qmp, ct);
                    log.LogInformation("Re-attached to VM {Vm} (pid {Pid})", id, process.Pid);
                }
                catch (Exception e) when (e is QmpException or IOException or TimeoutException)
                {
                    log.LogWarning(e, "VM {Vm} runs as pid {Pid} but its monitor does not answer", id, process.Pid);
                    vm.State = VmPowerState.Crashed;
                    vm.Detail = $"QEMU (pid {process.Pid}) runs but its monitor does not answer: {e.Message}";
                }
            }
        }
    }

    private Task RunAsync(VmRuntime vm, VmCommand command)
    {
        var ct = _stopping.Token;
        return FinishAsync(command, async () => command.Verb switch
            {
                VmVerb.Create => await CreateAsync(vm, command.Spec!, command.StartAfterCreate, ct, command.CloneFrom),
                VmVerb.Start => await StartAsync(vm, ct),
                VmVerb.Shutdown => await ShutdownAsync(vm, ct),
                VmVerb.Reboot => await RebootAsync(vm, ct),
                VmVerb.PowerOff => await InterruptAsync(vm, () => PowerOffAsync(vm)),
                VmVerb.Reset => await InterruptAsync(vm, () => ResetAsync(vm)),
                VmVerb.Pause => await MonitorCommandAsync(vm, "stop", VmPowerState.Paused),
                VmVerb.Resume => await MonitorCommandAsync(vm, "cont", VmPowerState.Running),
                VmVerb.SendKeys => await SendKeysAsync(vm, command.Keys ?? []),
                VmVerb.Save => await SaveAsync(vm, ct),
                VmVerb.Restore => await StartAsync(vm, ct, restore: true),
                VmVerb.Snapshot => await SnapshotAsync(vm, 'c', "snapshot-save", SnapshotName(command), ct),
                VmVerb.RevertSnapshot => await SnapshotAsync(vm, 'a', "snapshot-load", SnapshotName(command), ct),
                VmVerb.DeleteSnapshot => await SnapshotAsync(vm, 'd', "snapshot-delete", SnapshotName(command), ct),
                VmVerb.Configure => await ConfigureAsync(vm, command.Spec ?? throw new InvalidOperationException("Configure needs a VM spec."), ct),
                VmVerb.Delete => await DeleteAsync(vm),
                VmVerb.ConvertToTemplate => await ConvertToTemplateAsync(vm, ct),
                VmVerb.ChangeMedium => await ChangeMediumAsync(vm, command.Image, ct),
                VmVerb.ChangeHardware => await ChangeHardwareAsync(vm, command.Spec ?? throw new InvalidOperationException("Change hardware needs a VM spec."), ct),
                _ => throw new InvalidOperationException($"Unknown verb {command.Verb}."),
            });
    }

    /// <summary>Runs one command to its end, then records and reports the outcome.</summary>
    private async Task FinishAsync(VmCommand command, Func<Task<Outcome>> work)
    {
        var ct = _stopping.Token;
        OperationReport outcome;
        try
        {
            var done = await work();
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
            outcome = new OperationReport(command.OperationId, command.VmId, OperationState.Failed, e.Message);
        }

        journal.Finish(outcome);
        await Reporter.ReportOperationAsync(outcome);
    }

    private async Task<string?> CreateAsync(VmRuntime vm, VmSpec spec, bool start, CancellationToken ct, Guid? cloneFrom = null)
    {
        VmSpecValidator.Validate(spec);
        // A clone copies its source's disks: the source stays stopped meanwhile (its lock is held).
        var source = cloneFrom is { } sourceId
            ? _vms.GetValueOrDefault(sourceId) ?? throw new InvalidOperationException("The VM to clone is not on this host.")
            : null;
        if (source is not null)
        {
            await source.Lock.WaitAsync(ct);
        }

        await vm.Lock.WaitAsync(ct);
        try
        {
            if (source is { IsRunning: true } or { State: VmPowerState.Saved })
            {
                throw new InvalidOperationException("The VM to clone must be stopped.");
            }

            if (vm.Spec is null)
            {
                await SetStateAsync(vm, VmPowerState.Creating);
                RunDirectory.Create(vm.Paths, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);
                foreach (var disk in spec.Disks)
                {
                    var target = vm.Paths.Disk(disk.Id);
                    if (source is not null)
                    {
                        await _disks.CopyAsync(source.Paths.Disk(disk.Id), target, ct);
                    }
                    else if (disk.BaseImage is { } baseImage)
                    {
                        var basePath = await cache.EnsureAsync(baseImage, ct);
                        await guard.LabelSharedAsync(basePath, ct);
                        await _disks.CreateOverlayAsync(basePath, target, disk.SizeBytes, ct: ct);
                    }
                    else
                    {
                        await _disks.CreateBlankAsync(target, disk.SizeBytes, ct);
                    }

                    RunDirectory.SecureFile(target, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);
                }

                await guard.LabelOwnAsync(spec, vm.Paths.RunDirectory, ct);
                // Written last: a run directory with a spec is a VM that was created whole.
                await File.WriteAllTextAsync(vm.Paths.SpecFile, JsonSerializer.Serialize(spec), ct);
                vm.Spec = spec;
                vm.State = VmPowerState.Stopped;
            }
        }
        finally
        {
            vm.Lock.Release();
            source?.Lock.Release();
        }

        if (start)
        {
            return await StartAsync(vm, ct);
        }

        await SetStateAsync(vm, VmPowerState.Stopped);
        return null;
    }

    private async Task<string?> StartAsync(VmRuntime vm, CancellationToken ct, bool restore = false)
    {
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.IsRunning)
            {
                return "Already running.";
            }

            var spec = vm.Spec ?? throw new InvalidOperationException("The VM has not been created on this host.");
            var saved = File.Exists(vm.Paths.StateFile);
            if (saved != restore)
            {
                throw new InvalidOperationException(saved
                    ? "The VM has a saved state: Restore it, or delete the VM."
                    : "The VM has no saved state to restore.");
            }

            // Unconfined only with an admin's leave for this host, whatever the command says.
            guard.CheckStart();
            var stateBefore = vm.State;
            await SetStateAsync(vm, VmPowerState.Starting);
            foreach (var iso in spec.Cdroms.Select(c => c.Image).OfType<string>())
            {
                await guard.LabelSharedAsync(await cache.EnsureAsync(iso, ct), ct);
            }

            var argv = QemuCommandLine.Build(spec, vm.Paths, Accelerator.Accelerator, new QemuLaunchOptions
            {
                Sandbox = guard.Confinement.Sandbox,
                QemuBinary = options.Value.QemuBinary,
                IncomingDeferred = restore,
                ImagesDirectory = cache.Root,
                TestMonitor = options.Value.TestMonitor,
            });
            QemuProcess process;
            try
            {
                var (uid, gid) = guard.IdsOf(spec);
                process = await QemuProcess.StartAsync(spec.Id, argv, vm.Paths, uid, gid, QemuProcessOptions.Default with
                {
                    ChangeIds = guard.Confinement.OwnUid,
                    SelinuxLabel = guard.ProcessContext(spec),
                }, ct);
            }
            catch (QemuStartException)
            {
                await SetStateAsync(vm, stateBefore);
                throw;
            }

            var qmp = await process.ConnectQmpAsync(ct);
            if (restore)
            {
                await RestoreStateAsync(vm, qmp, ct);
            }

            await WatchAsync(vm, process, qmp, ct);
            vm.LimitsNote = await limiter.ApplyAsync(vm, qmp, process.Pid, ct);
            if (spec.BalloonTargetMiB is not null)
            {
                await ResourceLimiter.BalloonAsync(qmp, spec, ct);
            }
            await SetStateAsync(vm, vm.State);
            return null;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>
    /// Save: QEMU streams its whole state into a unix socket the agent listens on; the agent writes
    /// the file. The sandbox forbids QEMU to spawn (no exec: migration) and .NET cannot pass a file
    /// descriptor, so the socket is the way that keeps the sandbox.
    /// </summary>
    private async Task<string?> SaveAsync(VmRuntime vm, CancellationToken ct)
    {
        var qmp = RunningMonitor(vm);
        var spec = vm.Spec!;
        var partial = vm.Paths.StateFile + ".partial";
        vm.Saving = true;
        try
        {
            await WriteStateAsync(vm, qmp, spec, partial, ct);
        }
        catch
        {
            // Still running as before: a failed save changes nothing but leaves no partial file.
            vm.Saving = false;
            File.Delete(partial);
            File.Delete(vm.Paths.SaveSocket);
            if (vm.IsRunning)
            {
                await TryAsync(qmp, "cont");
            }

            throw;
        }

        // The state is on disk: end QEMU, freeing the host's memory. Its end is a save, not a stop.
        await PowerOffAsync(vm);
        return $"Saved {new FileInfo(vm.Paths.StateFile).Length / (1024 * 1024)} MiB.";
    }

    private async Task WriteStateAsync(VmRuntime vm, QmpClient qmp, VmSpec spec, string partial, CancellationToken ct)
    {
        File.Delete(vm.Paths.SaveSocket);
        using (var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            listener.Bind(new UnixDomainSocketEndPoint(vm.Paths.SaveSocket));
            listener.Listen(1);
            // QEMU runs as the VM's uid: the socket is its to open, and nobody else's.
            RunDirectory.SecureSocket(vm.Paths.SaveSocket, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);
            await guard.LabelOwnAsync(spec, vm.Paths.SaveSocket, ct);
            var accept = listener.AcceptAsync(ct).AsTask();
            await qmp.ExecuteAsync("migrate", new { uri = $"unix:{vm.Paths.SaveSocket}" }, ct);
            using var connection = await accept.WaitAsync(TimeSpan.FromSeconds(30), ct);
            await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            await using (var stream = new NetworkStream(connection, ownsSocket: false))
            {
                await stream.CopyToAsync(file, ct);
            }

            File.Delete(vm.Paths.SaveSocket);
        }

        await WaitForMigrationAsync(qmp, ct);
        RunDirectory.SecureFile(partial, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);
        await guard.LabelOwnAsync(spec, partial, ct);
        File.Move(partial, vm.Paths.StateFile, overwrite: true);
    }

    /// <summary>Restore: QEMU listens (as the VM's uid) for its saved state; the agent sends the file in.</summary>
    private async Task RestoreStateAsync(VmRuntime vm, QmpClient qmp, CancellationToken ct)
    {
        await qmp.ExecuteAsync("migrate-incoming", new { uri = $"unix:{vm.Paths.RestoreSocket}" }, ct);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(vm.Paths.RestoreSocket), ct);
        await using (var file = new FileStream(vm.Paths.StateFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true))
        await using (var stream = new NetworkStream(socket, ownsSocket: false))
        {
            await file.CopyToAsync(stream, ct);
        }

        socket.Shutdown(SocketShutdown.Send);
        await WaitForMigrationAsync(qmp, ct);
        // The guest runs again: its saved state is spent (starting from it twice would fork its history).
        File.Delete(vm.Paths.StateFile);
        File.Delete(vm.Paths.RestoreSocket);
    }

    /// <summary>Until query-migrate says completed; its error, when it failed.</summary>
    private static async Task WaitForMigrationAsync(QmpClient qmp, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(10);
        while (DateTimeOffset.UtcNow < deadline)
        {
            var status = await qmp.ExecuteAsync("query-migrate", ct: ct);
            switch (status.TryGetProperty("status", out var s) ? s.GetString() : null)
            {
                case "completed":
                    return;
                case "failed" or "cancelled":
                    throw new InvalidOperationException($"QEMU could not move the state: {(status.TryGetProperty("error-desc", out var e) ? e.GetString() : "no reason given")}");
            }

            await Task.Delay(50, ct);
        }

        throw new TimeoutException("Moving the VM's state took over 10 minutes.");
    }

    private async Task<string?> ShutdownAsync(VmRuntime vm, CancellationToken ct)
    {
        if (!vm.IsRunning || vm.Qmp is not { } qmp)
        {
            return "Already stopped.";
        }

        var exited = vm.Exited.Task;
        var timeout = TimeSpan.FromSeconds(vm.Spec?.ShutdownTimeoutSeconds ?? 60);
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(ct, vm.Interruptible.Token);
        await SetStateAsync(vm, VmPowerState.ShuttingDown);
        var deadline = clock.GetUtcNow() + timeout;
        try
        {
            // Ask, and ask again: a guest that was still booting may have missed the first press.
            while (clock.GetUtcNow() < deadline)
            {
                await TryAsync(qmp, "system_powerdown");
                var wait = Min(ShutdownReask, deadline - clock.GetUtcNow());
                if (await Completes(exited, wait, interrupted.Token))
                {
                    return null;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new InvalidOperationException("Interrupted by Power off or Reset.");
        }

        await PowerOffAsync(vm);
        return $"The guest did not power off within {timeout.TotalSeconds:0} s; it was powered off.";
    }

    private async Task<string?> RebootAsync(VmRuntime vm, CancellationToken ct)
    {
        var qmp = RunningMonitor(vm);
        var timeout = TimeSpan.FromSeconds(vm.Spec?.ShutdownTimeoutSeconds ?? 60);
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(ct, vm.Interruptible.Token);
        var reset = vm.ResetSeen.Task;
        // There is no ACPI reboot button: Ctrl-Alt-Del is how a PC asks its OS to restart.
        await qmp.ExecuteAsync("send-key", new { keys = Qcodes(["ctrl", "alt", "delete"]) }, ct);
        try
        {
            if (await Completes(reset, timeout, interrupted.Token))
            {
                return null;
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new InvalidOperationException("Interrupted by Power off or Reset.");
        }

        await ResetAsync(vm);
        return $"The guest did not restart within {timeout.TotalSeconds:0} s; it was reset.";
    }

    /// <summary>Power off and Reset are the way out of a hung guest: they end a Shutdown or Reboot that is waiting.</summary>
    private static async Task<string?> InterruptAsync(VmRuntime vm, Func<Task<string?>> action)
    {
        var waiting = vm.Interruptible;
        vm.Interruptible = new CancellationTokenSource();
        await waiting.CancelAsync();
        waiting.Dispose();
        return await action();
    }

    private async Task<string?> ResetAsync(VmRuntime vm)
    {
        var qmp = RunningMonitor(vm);
        await qmp.ExecuteAsync("system_reset");
        if (vm.State == VmPowerState.Paused)
        {
            // A paused guest restarts running; QMP's RESUME event reports it.
            await qmp.ExecuteAsync("cont");
        }
        else if (vm.State != VmPowerState.Running)
        {
            // A guest that was shutting down runs again after the reset.
            await SetStateAsync(vm, VmPowerState.Running);
        }

        return null;
    }

    /// <summary>stop or cont; the new state is reported from QMP's own STOP and RESUME events.</summary>
    private async Task<string?> MonitorCommandAsync(VmRuntime vm, string command, VmPowerState expected)
    {
        var qmp = RunningMonitor(vm);
        if (vm.State == expected)
        {
            return $"Already {expected}.";
        }

        await qmp.ExecuteAsync(command);
        return null;
    }

    private async Task<string?> SendKeysAsync(VmRuntime vm, IReadOnlyList<string> keys)
    {
        if (keys.Count is 0 or > 8 || keys.Any(k => !QcodePattern().IsMatch(k)))
        {
            throw new InvalidOperationException("Keys must be 1 to 8 QEMU key codes such as ctrl, alt, delete, f1.");
        }

        await RunningMonitor(vm).ExecuteAsync("send-key", new { keys = Qcodes(keys) });
        return null;
    }

    private static QmpClient RunningMonitor(VmRuntime vm) =>
        vm.IsRunning && vm.Qmp is { } qmp ? qmp : throw new InvalidOperationException("The VM is not running.");

    private async Task<string?> ConfigureAsync(VmRuntime vm, VmSpec spec, CancellationToken ct)
    {
        VmSpecValidator.Validate(spec);
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.Spec is null)
            {
                throw new InvalidOperationException("The VM has not been created on this host.");
            }

            await File.WriteAllTextAsync(vm.Paths.SpecFile, JsonSerializer.Serialize(spec), ct);
            vm.Spec = spec;
            // The portal compares what this host holds now with its record (after an isolation alert was resolved, for one).
            await Reporter.ReportVmAsync(Snapshot(vm));
            return null;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    private static string SnapshotName(VmCommand command) =>
        command.Snapshot is { } name && SnapshotPattern().IsMatch(name)
            ? name
            : throw new InvalidOperationException("A snapshot name is 1-32 characters: letters, digits, '.', '_' or '-'.");

    /// <summary>
    /// Snapshots live inside the VM's qcow2 disks. A running VM's go through QEMU's snapshot jobs
    /// (with its RAM); a stopped VM's through qemu-img (disks only). The jobs answer {} at once and
    /// report failure only in query-jobs (REFERENCE.md, QEMU 7.2).
    /// </summary>
    private async Task<Outcome> SnapshotAsync(VmRuntime vm, char diskAction, string job, string name, CancellationToken ct)
    {
        var spec = vm.Spec ?? throw new InvalidOperationException("The VM has not been created on this host.");
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.IsRunning && vm.Qmp is { } qmp)
            {
                var devices = spec.Disks.Select(d => d.Id).ToArray();
                var id = $"{job}-{Guid.NewGuid():N}";
                object arguments = job == "snapshot-delete"
                    ? new Dictionary<string, object> { ["job-id"] = id, ["tag"] = name, ["devices"] = devices }
                    : new Dictionary<string, object> { ["job-id"] = id, ["tag"] = name, ["vmstate"] = devices[0], ["devices"] = devices };
                await qmp.ExecuteAsync(job, arguments, ct);
                await WaitForJobAsync(qmp, id, ct);
                return await MeasureSnapshotAsync(vm, spec, name, ct);
            }

            if (File.Exists(vm.Paths.StateFile))
            {
                throw new InvalidOperationException("The VM is Saved: restore it first.");
            }

            foreach (var disk in spec.Disks)
            {
                await _disks.SnapshotAsync(vm.Paths.Disk(disk.Id), diskAction, name, ct);
            }

            return await MeasureSnapshotAsync(vm, spec, name, ct);
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>What the snapshot holds of RAM, and what the first disk's file takes on the host now.</summary>
    private async Task<Outcome> MeasureSnapshotAsync(VmRuntime vm, VmSpec spec, string name, CancellationToken ct)
    {
        try
        {
            var info = await _disks.InfoAsync(vm.Paths.Disk(spec.Disks[0].Id), "qcow2", ct);
            var state = info.Snapshots.FirstOrDefault(s => s.Name == name)?.VmStateBytes;
            return new Outcome(null, new OperationResult(StateBytes: state, DiskBytes: info.ActualSize));
        }
        catch (QemuImgException e)
        {
            // The snapshot itself is done; only its figures are missing.
            log.LogWarning(e, "Measuring the disk of VM {Vm} failed", vm.Id);
            return new Outcome(null);
        }
    }

    /// <summary>
    /// The stopped VM's disk, flattened (its backing chain merged in, internal snapshots left
    /// behind) into a read-only image named by its checksum, kept in this host's store and handed to
    /// the portal's library, from which other hosts fetch it; then the VM is gone.
    /// </summary>
    private async Task<Outcome> ConvertToTemplateAsync(VmRuntime vm, CancellationToken ct)
    {
        var spec = vm.Spec ?? throw new InvalidOperationException("The VM has not been created on this host.");
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.IsRunning || File.Exists(vm.Paths.StateFile))
            {
                throw new InvalidOperationException("Convert to template needs the VM stopped.");
            }

            var (fileName, sha256, bytes) = await cache.AddFlattenedAsync(vm.Paths.Disk(spec.Disks[0].Id), vm.Id, _disks, ct);
            await cache.UploadAsync(fileName, ct);
            RunDirectory.Delete(vm.Paths);
            vm.Spec = null;
            _vms.TryRemove(vm.Id, out _);
            limiter.Release(vm.Id);
            await SetStateAsync(vm, VmPowerState.Missing);
            return new Outcome(null, new OperationResult(DiskBytes: bytes, Sha256: sha256));
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>
    /// Brings the VM's hardware to <paramref name="wanted"/>: hot through QMP when QEMU runs,
    /// otherwise in the files and the spec for the next boot. Each step is written to the spec as it
    /// is done, so a failure half-way leaves a spec that says what the VM really has.
    /// </summary>
    private async Task<string?> ChangeHardwareAsync(VmRuntime vm, VmSpec wanted, CancellationToken ct)
    {
        VmSpecValidator.Validate(wanted);
        await vm.Lock.WaitAsync(ct);
        try
        {
            var spec = vm.Spec ?? throw new InvalidOperationException("The VM has not been created on this host.");
            if (File.Exists(vm.Paths.StateFile))
            {
                throw new InvalidOperationException("The VM is Saved: restore it first.");
            }

            var diff = HardwareDiff.Between(spec, wanted);
            var qmp = vm.IsRunning ? vm.Qmp : null;
            if (qmp is not null && diff.AddedVCpus < 0)
            {
                throw new InvalidOperationException("vCPUs are only added while the VM runs; power it off to take some away.");
            }

            async Task KeepAsync(VmSpec changed)
            {
                spec = changed;
                await File.WriteAllTextAsync(vm.Paths.SpecFile, JsonSerializer.Serialize(changed), CancellationToken.None);
                vm.Spec = changed;
            }

            foreach (var disk in diff.AddedDisks)
            {
                var path = vm.Paths.Disk(disk.Id);
                await _disks.CreateBlankAsync(path, disk.SizeBytes, ct);
                RunDirectory.SecureFile(path, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);
                await guard.LabelOwnAsync(spec, path, ct);
                if (qmp is not null)
                {
                    try
                    {
                        await Hotplug.AddDiskAsync(qmp, path, disk, ct);
                    }
                    catch
                    {
                        File.Delete(path);
                        throw;
                    }
                }

                await KeepAsync(spec with { Disks = [.. spec.Disks, disk] });
            }

            foreach (var (from, to) in diff.GrownDisks)
            {
                if (qmp is not null)
                {
                    await qmp.ExecuteAsync("block_resize", new Dictionary<string, object> { ["node-name"] = to.Id, ["size"] = to.SizeBytes }, ct);
                }
                else
                {
                    await _disks.ResizeAsync(vm.Paths.Disk(to.Id), to.SizeBytes, ct);
                }

                await KeepAsync(spec with { Disks = [.. spec.Disks.Select(d => d.Id == to.Id ? to : d)] });
            }

            foreach (var disk in diff.RemovedDisks)
            {
                if (qmp is not null)
                {
                    await Hotplug.RemoveDiskAsync(qmp, vm, disk, ct);
                }

                File.Delete(vm.Paths.Disk(disk.Id));
                await KeepAsync(spec with { Disks = [.. spec.Disks.Where(d => d.Id != disk.Id)] });
            }

            foreach (var nic in diff.AddedNics)
            {
                if (qmp is not null)
                {
                    await Hotplug.AddNicAsync(qmp, nic, ct);
                }

                await KeepAsync(spec with { Nics = [.. spec.Nics, nic] });
            }

            foreach (var nic in diff.RemovedNics)
            {
                if (qmp is not null)
                {
                    await Hotplug.RemoveNicAsync(qmp, vm, nic, ct);
                }

                await KeepAsync(spec with { Nics = [.. spec.Nics.Where(n => n.Id != nic.Id)] });
            }

            if (qmp is not null && diff.AddedVCpus > 0)
            {
                await Hotplug.AddVCpusAsync(qmp, diff.AddedVCpus, ct);
            }

            if (qmp is not null && wanted.BalloonTargetMiB != spec.BalloonTargetMiB)
            {
                await ResourceLimiter.BalloonAsync(qmp, wanted, ct);
            }

            // Whatever else the portal's spec says (settings, boot order) comes along.
            await KeepAsync(wanted);
            return null;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>Changes the first CD-ROM drive's disc: through QMP while QEMU runs, and in the spec for every later boot.</summary>
    private async Task<string?> ChangeMediumAsync(VmRuntime vm, string? image, CancellationToken ct)
    {
        var path = image is null ? null : await cache.EnsureAsync(image, ct);
        if (path is not null)
        {
            await guard.LabelSharedAsync(path, ct);
        }
        await vm.Lock.WaitAsync(ct);
        try
        {
            var spec = vm.Spec ?? throw new InvalidOperationException("The VM has not been created on this host.");
            var drive = spec.Cdroms.FirstOrDefault() ?? throw new InvalidOperationException("The VM has no CD-ROM drive.");
            if (vm.IsRunning && vm.Qmp is { } qmp)
            {
                if (path is null)
                {
                    await qmp.ExecuteAsync("eject", new { id = $"cdrom-{drive.Id}", force = true }, ct);
                    await ReleaseColdPluggedMediumAsync(qmp, drive.Id);
                }
                else
                {
                    await qmp.ExecuteAsync("blockdev-change-medium", new Dictionary<string, object>
                    {
                        ["id"] = $"cdrom-{drive.Id}",
                        ["filename"] = path,
                        ["format"] = "raw",
                        ["read-only-mode"] = "read-only",
                        ["force"] = true,
                    }, ct);
                    await ReleaseColdPluggedMediumAsync(qmp, drive.Id);
                }
            }

            var changed = spec with { Cdroms = [drive with { Image = image }, .. spec.Cdroms.Skip(1)] };
            await File.WriteAllTextAsync(vm.Paths.SpecFile, JsonSerializer.Serialize(changed), ct);
            vm.Spec = changed;
            return image is null ? "Ejected." : null;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>
    /// A disc given at boot came with -blockdev nodes the monitor owns: taking it out of the drive
    /// leaves them open until they are deleted. A disc inserted later is anonymous and goes with the
    /// eject, so "not found" here is the normal case.
    /// </summary>
    private async Task ReleaseColdPluggedMediumAsync(QmpClient qmp, string driveId)
    {
        foreach (var node in new[] { driveId, $"file-{driveId}" })
        {
            try
            {
                await qmp.ExecuteAsync("blockdev-del", new Dictionary<string, object> { ["node-name"] = node }, timeout: TimeSpan.FromSeconds(5));
            }
            catch (QmpException e)
            {
                log.LogDebug("blockdev-del {Node}: {Message}", node, e.Message);
            }
        }
    }

    private static async Task WaitForJobAsync(QmpClient qmp, string id, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(10);
        while (DateTimeOffset.UtcNow < deadline)
        {
            var jobs = await qmp.ExecuteAsync("query-jobs", ct: ct);
            var job = jobs.EnumerateArray().FirstOrDefault(j => j.GetProperty("id").GetString() == id);
            if (job.ValueKind == System.Text.Json.JsonValueKind.Undefined)
            {
                throw new InvalidOperationException($"QEMU lost track of job {id}.");
            }

            if (job.GetProperty("status").GetString() == "concluded")
            {
                await qmp.ExecuteAsync("job-dismiss", new { id }, ct);
                if (job.TryGetProperty("error", out var error))
                {
                    throw new InvalidOperationException(error.GetString());
                }

                return;
            }

            await Task.Delay(50, ct);
        }

        throw new TimeoutException($"QEMU's {id} took over 10 minutes.");
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
    private static partial System.Text.RegularExpressions.Regex SnapshotPattern();

    private static object[] Qcodes(IEnumerable<string> keys) => [.. keys.Select(k => new { type = "qcode", data = k })];

    [System.Text.RegularExpressions.GeneratedRegex("^[a-z0-9_]{1,16}$")]
    private static partial System.Text.RegularExpressions.Regex QcodePattern();

    private async Task<string?> PowerOffAsync(VmRuntime vm)
    {
        if (vm.Process is not { } process || !process.IsRunning)
        {
            return "Already stopped.";
        }

        var exited = vm.Exited.Task;
        vm.Stopping = true;
        if (vm.Qmp is { } qmp)
        {
            await TryAsync(qmp, "quit");
        }

        if (!await Completes(exited, PowerOffGrace, CancellationToken.None))
        {
            process.Kill();
            await Completes(exited, PowerOffGrace, CancellationToken.None);
        }

        return null;
    }

    private async Task<string?> DeleteAsync(VmRuntime vm)
    {
        await PowerOffAsync(vm);
        await vm.Lock.WaitAsync();
        try
        {
            RunDirectory.Delete(vm.Paths);
            vm.Spec = null;
            _vms.TryRemove(vm.Id, out _);
            limiter.Release(vm.Id);
        }
        finally
        {
            vm.Lock.Release();
        }

        await SetStateAsync(vm, VmPowerState.Missing);
        return null;
    }

    /// <summary>Follows one QEMU until it exits: QMP events drive the status, end-of-file is its end.</summary>
    private async Task WatchAsync(VmRuntime vm, QemuProcess process, QmpClient qmp, CancellationToken ct)
    {
        vm.Process = process;
        vm.Qmp = qmp;
        vm.Stopping = false;
        vm.Detail = null;
        vm.Exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var status = await qmp.ExecuteAsync("query-status", ct: ct);
        vm.State = status.GetProperty("status").GetString() switch
        {
            "running" => VmPowerState.Running,
            "paused" or "prelaunch" or "suspended" => VmPowerState.Paused,
            "shutdown" => VmPowerState.ShuttingDown,
            _ => VmPowerState.Running,
        };
        _ = Task.Run(() => FollowAsync(vm, process, qmp));
    }

    private async Task FollowAsync(VmRuntime vm, QemuProcess process, QmpClient qmp)
    {
        try
        {
            await foreach (var e in qmp.Events.ReadAllAsync())
            {
                switch (e.Name)
                {
                    case "SHUTDOWN":
                        // -no-shutdown keeps QEMU alive after the guest powers off; the agent decides.
                        // For now a powered-off guest is a stopped VM.
                        vm.Stopping = true;
                        await TryAsync(qmp, "quit");
                        break;
                    case "STOP" when !vm.Stopping && !vm.Saving:
                        await SetStateAsync(vm, VmPowerState.Paused);
                        break;
                    case "RESUME":
                        await SetStateAsync(vm, VmPowerState.Running);
                        break;
                    case "DEVICE_DELETED" when e.Data.TryGetProperty("device", out var device) && device.GetString() is { } id:
                        if (vm.Unplugging.TryRemove(id, out var unplugged))
                        {
                            unplugged.TrySetResult();
                        }

                        break;
                    case "RESET":
                        vm.ResetSeen.TrySetResult();
                        vm.ResetSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        break;
                }
            }
        }
        catch (Exception e) when (e is QmpException or IOException)
        {
            log.LogDebug(e, "Monitor of VM {Vm} ended", vm.Id);
        }

        // End-of-file on QMP: QEMU is gone (or going). The process table says when it is dead;
        // a zombie counts as dead because PID 1 here may never reap it.
        await process.WaitForExitAsync(TimeSpan.FromSeconds(5));

        await qmp.DisposeAsync();
        if (_stopping.IsCancellationRequested && !options.Value.StopVmsOnExit)
        {
            return;
        }

        vm.Process = null;
        vm.Qmp = null;
        if (vm.Stopping)
        {
            await SetStateAsync(vm, vm.Saving || File.Exists(vm.Paths.StateFile) ? VmPowerState.Saved : VmPowerState.Stopped);
            vm.Saving = false;
        }
        else
        {
            var tail = string.Join('\n', QemuProcess.ReadStderrTail(vm.Paths, 10));
            var code = process.DescribeExit();
            log.LogWarning("QEMU of VM {Vm} ended unexpectedly ({Code})", vm.Id, code);
            await SetStateAsync(vm, VmPowerState.Crashed, $"QEMU ended unexpectedly ({code}). {tail}".Trim());
            vm.Exited.TrySetResult();
            await RestartAfterCrashAsync(vm);
            return;
        }

        vm.Exited.TrySetResult();
    }

    /// <summary>The VM's restart policy, carried out by the agent alone so it holds while the portal is away.</summary>
    private async Task RestartAfterCrashAsync(VmRuntime vm)
    {
        if (vm.Spec is not { Restart: RestartPolicy.OnCrash } spec)
        {
            return;
        }

        var now = clock.GetUtcNow();
        if (!RestartBudget.TryTake(vm.Restarts, now, spec.MaxRestartsPerHour))
        {
            await SetStateAsync(vm, VmPowerState.Crashed, $"{vm.Detail} Not restarted: {spec.MaxRestartsPerHour} restarts in the last hour already.");
            return;
        }

        try
        {
            await StartAsync(vm, _stopping.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "Restarting VM {Vm} after a crash failed", vm.Id);
            await SetStateAsync(vm, VmPowerState.Crashed, $"Restart after the crash failed: {e.Message}");
        }
    }

    private async Task SetStateAsync(VmRuntime vm, VmPowerState state, string? detail = null)
    {
        vm.State = state;
        vm.Detail = detail;
        await Reporter.ReportVmAsync(Snapshot(vm));
    }

    /// <summary>What the agent knows of the VM, with whom its QEMU really runs as (from the kernel) beside its record's label and uid.</summary>
    private VmReport Snapshot(VmRuntime vm)
    {
        // Without an own uid per VM, QEMU runs as the agent (with an admin's leave): nothing to compare.
        var running = vm.Process is { } process && guard.Confinement.OwnUid ? ProcessUsage.TryRead(process.Pid) : null;
        return new(vm.Id, vm.State, clock.GetUtcNow(), vm.Detail, vm.Process?.Pid, vm.Spec?.Uid,
            vm.State == VmPowerState.Saved && File.Exists(vm.Paths.StateFile) ? new FileInfo(vm.Paths.StateFile).Length : null, vm.LimitsNote,
            vm.Spec?.Label, running?.Uid, running?.Gid);
    }

    private async Task TryAsync(QmpClient qmp, string command)
    {
        try
        {
            await qmp.ExecuteAsync(command, timeout: TimeSpan.FromSeconds(5));
        }
        catch (QmpException e)
        {
            // QEMU may already be gone; its exit is observed on the monitor.
            log.LogDebug(e, "QMP {Command} failed", command);
        }
    }

    private static async Task<bool> Completes(Task task, TimeSpan within, CancellationToken ct)
    {
        if (within <= TimeSpan.Zero)
        {
            return task.IsCompleted;
        }

        try
        {
            await task.WaitAsync(within, ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

/// <summary>How a command ended well: a message for its task, and what it measured.</summary>
internal sealed record Outcome(string? Message, OperationResult? Result = null)
{
    public static implicit operator Outcome(string? message) => new(message);
}

/// <summary>At most so many restarts after crashes in any hour: a guest that crashes at boot must not spin forever.</summary>
public static class RestartBudget
{
    /// <summary>Records a restart at <paramref name="now"/> and says yes, or says no when the last hour used them all.</summary>
    public static bool TryTake(List<DateTimeOffset> restarts, DateTimeOffset now, int perHour)
    {
        restarts.RemoveAll(at => at <= now - TimeSpan.FromHours(1));
        if (restarts.Count >= perHour)
        {
            return false;
        }

        restarts.Add(now);
        return true;
    }
}
