using Paddock.Engine.Contract;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Host.Networks;
using Paddock.Host.Node;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// Brings the VM's hardware to the spec the portal sends: hot through QMP when QEMU runs
/// (<see cref="Hotplug"/>), otherwise in the files and the spec for the next boot. Each step is
/// written to the spec as it is done, so a failure half-way leaves a spec that says what the VM really has.
/// </summary>
public sealed class ChangeHardware(VmFiles files, ConfinementGuard guard, NetworkTaps taps, VmReports reports) : IVmOperation
{
    public VmVerb Verb => VmVerb.ChangeHardware;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var wanted = command.Spec ?? throw new InvalidOperationException("Change hardware needs a VM spec.");
        VmSpecValidator.Validate(wanted);
        await vm.Lock.WaitAsync(ct);
        try
        {
            var spec = vm.CreatedSpec;
            if (File.Exists(vm.Paths.StateFile))
            {
                throw new InvalidOperationException("The VM is Saved: restore it first.");
            }

            var diff = HardwareDiff.Between(spec, wanted);
            var change = new Change(vm, spec, vm.IsRunning ? vm.Qmp : null, files, guard, taps);
            if (change.Qmp is not null && diff.AddedVCpus < 0)
            {
                throw new InvalidOperationException("vCPUs are only added while the VM runs; power it off to take some away.");
            }

            await change.DisksAsync(diff, ct);
            await change.NicsAsync(diff, ct);
            if (change.Qmp is { } qmp && diff.AddedVCpus > 0)
            {
                await Hotplug.AddVCpusAsync(qmp, diff.AddedVCpus, ct);
            }

            if (change.Qmp is { } running && wanted.BalloonTargetMiB != change.Spec.BalloonTargetMiB)
            {
                await ResourceLimiter.BalloonAsync(running, wanted, ct);
            }

            // Whatever else the portal's spec says (settings, boot order) comes along.
            await change.KeepAsync(wanted);
            // The portal hears where new devices sit before anything else (a migration) is asked of the VM.
            await reports.SendAsync(vm);
            return Outcome.Done;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>One change under way: the spec as far as it has got, kept after every step.</summary>
    private sealed class Change(VmRuntime vm, VmSpec spec, QmpClient? qmp, VmFiles files, ConfinementGuard guard, NetworkTaps taps)
    {
        public VmSpec Spec { get; private set; } = spec;

        public QmpClient? Qmp => qmp;

        public async Task KeepAsync(VmSpec changed)
        {
            Spec = changed;
            await VmFiles.KeepSpecAsync(vm, changed, CancellationToken.None);
        }

        public async Task DisksAsync(HardwareDiff diff, CancellationToken ct)
        {
            foreach (var disk in diff.AddedDisks)
            {
                await KeepAsync(Spec with { Disks = [.. Spec.Disks, await AddDiskAsync(disk, ct)] });
            }

            foreach (var (_, to) in diff.GrownDisks)
            {
                if (qmp is not null)
                {
                    await qmp.BlockResizeAsync(to.Id, to.SizeBytes, ct);
                }
                else
                {
                    await files.DisksOf(Spec).ResizeAsync(vm.Paths.Disk(to.Id), to.SizeBytes, ct);
                }

                await KeepAsync(Spec with { Disks = [.. Spec.Disks.Select(d => d.Id == to.Id ? to : d)] });
            }

            foreach (var disk in diff.RemovedDisks)
            {
                if (qmp is not null)
                {
                    await Hotplug.RemoveDiskAsync(qmp, vm.Unplugging, disk, ct);
                }

                File.Delete(vm.Paths.Disk(disk.Id));
                await KeepAsync(Spec with { Disks = [.. Spec.Disks.Where(d => d.Id != disk.Id)] });
            }
        }

        /// <summary>The disk as the spec keeps it: with the root port it went into when QEMU runs.</summary>
        private async Task<DiskSpec> AddDiskAsync(DiskSpec disk, CancellationToken ct)
        {
            var path = vm.Paths.Disk(disk.Id);
            if (qmp is not null && await Hotplug.PortOfDiskAsync(qmp, disk, ct) is { } had)
            {
                // A resend: the add the last agent was killed in had reached the guest; only the spec is left to write.
                return disk with { Port = had };
            }

            // Left by an add that was killed before the guest had it: blank and never used.
            File.Delete(path);
            await files.Disks.CreateBlankAsync(path, disk.SizeBytes, ct);
            files.GiveToVm(Spec, path);
            await guard.LabelOwnAsync(Spec, path, ct);
            if (qmp is null)
            {
                return disk;
            }

            try
            {
                await Hotplug.ClearCutAddAsync(qmp, disk);
                return disk with { Port = await Hotplug.AddDiskAsync(qmp, path, disk, ct) };
            }
            catch
            {
                File.Delete(path);
                throw;
            }
        }

        public async Task NicsAsync(HardwareDiff diff, CancellationToken ct)
        {
            foreach (var nic in diff.AddedNics)
            {
                // In the host's networks and walls from before its tap is made until the spec below names it.
                using var joining = nic.Network is null ? null : taps.Joining(vm.Id, nic);
                // Its root port goes into the spec: a restore or a migration lays it out there again.
                var port = qmp is null ? null
                    : nic.Network is not null ? await taps.HotplugAsync(vm.Id, nic, qmp, ct)
                    : await Hotplug.AddNicAsync(qmp, nic, ct);
                await KeepAsync(Spec with { Nics = [.. Spec.Nics, nic with { Port = port }] });
            }

            foreach (var nic in diff.RemovedNics)
            {
                if (qmp is not null)
                {
                    await Hotplug.RemoveNicAsync(qmp, vm.Unplugging, nic, ct);
                }

                await KeepAsync(Spec with { Nics = [.. Spec.Nics.Where(n => n.Id != nic.Id)] });
                if (nic.Network is not null)
                {
                    files.NetworksChanged();
                }
            }
        }
    }
}
