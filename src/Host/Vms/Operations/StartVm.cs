using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Host.Networks;
using Paddock.Host.Node;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// Boots the VM's QEMU as the VM's uid, follows it, and applies its limits. Also the way back from a
/// save (<see cref="RestoreVm"/>) and after a crash.
/// </summary>
public sealed class StartVm(
    IOptions<AgentOptions> options,
    AcceleratorChoice accelerator,
    ConfinementGuard guard,
    ImageCache cache,
    ResourceLimiter limiter,
    VmFiles files,
    VmReports reports,
    VmWatcher watcher,
    NetworkTaps taps,
    DiskLeaks leaks,
    SeedImages seeds) : IVmOperation
{
    public VmVerb Verb => VmVerb.Start;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct) => await StartAsync(vm, ct);

    /// <param name="restoring">For a restore: where to report how much of the saved state QEMU has taken; null to start afresh.</param>
    public async Task<string?> StartAsync(VmRuntime vm, CancellationToken ct, IProgress<WorkDone>? restoring = null)
    {
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.IsRunning)
            {
                return "Already running.";
            }

            var spec = vm.CreatedSpec;
            var restore = restoring is not null;
            var saved = File.Exists(vm.Paths.StateFile);
            if (saved != restore)
            {
                throw new InvalidOperationException(saved
                    ? "The VM has a saved state: Restore it, or delete the VM."
                    : "The VM has no saved state to restore.");
            }

            // Unconfined only with an admin's leave for this host, whatever the command says.
            guard.CheckStart();
            await leaks.RepairAsync(vm, spec, ct);
            var process = await LaunchAsync(vm, spec, restore, ct);
            var qmp = await process.ConnectQmpAsync(ct);
            await PlugNetworksAsync(vm, process, qmp, ct);
            if (!restore && HasTaps(spec))
            {
                // Started paused to take its taps: the guest boots with them.
                await qmp.ContAsync(ct);
            }

            if (restore)
            {
                await RestoreAsync(vm, process, qmp, restoring!, ct);
            }

            await watcher.WatchAsync(vm, process, qmp, ct);
            vm.LimitsNote = await limiter.ApplyAsync(spec, qmp, process.Pid, accelerator.Accelerator, ct);
            if (spec.BalloonTargetMiB is not null)
            {
                await ResourceLimiter.BalloonAsync(qmp, spec, ct);
            }

            await reports.SetStateAsync(vm, vm.State);
            return null;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>
    /// Starts the VM's QEMU to receive a live migration: paused, its incoming stream deferred, watched
    /// but not yet limited (that comes when it runs). Its end before then is no crash: nothing restarts it.
    /// </summary>
    public async Task<QmpClient> StartIncomingAsync(VmRuntime vm, CancellationToken ct)
    {
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.IsRunning)
            {
                throw new InvalidOperationException("The VM's QEMU runs here already.");
            }

            guard.CheckStart();
            var process = await LaunchAsync(vm, vm.CreatedSpec, restore: false, ct, incoming: true);
            var qmp = await process.ConnectQmpAsync(ct);
            // The state that comes in expects the same NICs as on the source.
            await PlugNetworksAsync(vm, process, qmp, ct);
            await watcher.WatchAsync(vm, process, qmp, ct);
            vm.Stopping = true;
            return qmp;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>The guest that arrived runs: from now on its end is a crash, and its limits apply.</summary>
    public async Task ArrivedAsync(VmRuntime vm, QmpClient qmp, CancellationToken ct)
    {
        var spec = vm.CreatedSpec;
        vm.Stopping = false;
        vm.LimitsNote = await limiter.ApplyAsync(spec, qmp, vm.Process!.Pid, accelerator.Accelerator, ct);
        await reports.SetStateAsync(vm, VmPowerState.Running);
    }

    /// <summary>
    /// Streams the saved state into the new QEMU. When QEMU does not take it, that QEMU is ended and the
    /// VM stays Saved, with QEMU's own words in the error; once it runs, the state is spent and goes
    /// (starting from it twice would fork the guest's history).
    /// </summary>
    private async Task RestoreAsync(VmRuntime vm, QemuProcess process, QmpClient qmp, IProgress<WorkDone> progress, CancellationToken ct)
    {
        var stderrFrom = QemuProcess.ReadStderrTail(vm.Paths, 200).Count;
        try
        {
            await SaveRestore.RestoreAsync(qmp, process.Pid, vm.Paths.RestoreSocket, vm.Paths.StateFile, ct, progress);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or QmpException)
        {
            await qmp.DisposeAsync();
            process.Kill();
            await process.WaitForExitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
            var said = string.Join(" ", QemuProcess.ReadStderrTail(vm.Paths, 200).Skip(stderrFrom).TakeLast(3));
            await reports.SetStateAsync(vm, VmPowerState.Saved);
            throw new InvalidOperationException($"QEMU did not take the saved state ({e.Message}){(said.Length > 0 ? $"; QEMU said: {said}" : "")}", e);
        }

        File.Delete(vm.Paths.StateFile);
    }

    private static bool HasTaps(VmSpec spec) => QemuCommandLine.TapNicPorts(spec).Count > 0;

    /// <summary>The NICs on tenant networks, before the guest runs; a QEMU that cannot have them is ended.</summary>
    private async Task PlugNetworksAsync(VmRuntime vm, QemuProcess process, QmpClient qmp, CancellationToken ct)
    {
        try
        {
            await taps.PlugAsync(vm.Id, vm.CreatedSpec, qmp, ct);
        }
        catch
        {
            await qmp.DisposeAsync();
            process.Kill();
            await reports.SetStateAsync(vm, File.Exists(vm.Paths.StateFile) ? VmPowerState.Saved : VmPowerState.Stopped);
            throw;
        }
    }

    /// <summary>Makes the images the VM reads readable to it and starts QEMU; a QEMU that does not start leaves the state as it was.</summary>
    private async Task<QemuProcess> LaunchAsync(VmRuntime vm, VmSpec spec, bool restore, CancellationToken ct, bool incoming = false)
    {
        var stateBefore = vm.State;
        await reports.SetStateAsync(vm, VmPowerState.Starting);
        // Every device's root port is kept: a restore or a migration must find them where they were.
        spec = DeviceLayout.WithPorts(spec);
        await VmFiles.KeepSpecAsync(vm, spec, ct);
        foreach (var iso in spec.Cdroms.Select(c => c.Image).OfType<string>())
        {
            await guard.LabelSharedAsync(await cache.EnsureAsync(iso, ct), ct);
        }

        await files.ShareImagesAsync(ImageAccess.ImagesOf(spec), ct);
        await seeds.WriteAsync(spec, vm.Paths, ct);
        var argv = QemuCommandLine.Build(spec, vm.Paths, accelerator.Accelerator, new QemuLaunchOptions
        {
            Sandbox = guard.Confinement.Sandbox,
            QemuBinary = options.Value.QemuBinary,
            IncomingDeferred = restore || incoming,
            StartPaused = incoming || (!restore && HasTaps(spec)),
            ImagesDirectory = cache.Root,
            TestMonitor = options.Value.TestMonitor,
        });
        try
        {
            var (uid, gid) = guard.IdsOf(spec);
            return await QemuProcess.StartAsync(spec.Id, argv, vm.Paths, uid, gid, QemuProcessOptions.Default with
            {
                ChangeIds = guard.Confinement.OwnUid,
                SelinuxLabel = guard.ProcessContext(spec),
            }, ct);
        }
        catch (QemuStartException)
        {
            await reports.SetStateAsync(vm, stateBefore);
            throw;
        }
    }
}
