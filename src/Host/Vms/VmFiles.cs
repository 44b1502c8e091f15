using System.Text.Json;
using Microsoft.Extensions.Options;
using Paddock.Engine.Images;
using Paddock.Engine.Vms;
using Paddock.Host.Networks;
using Paddock.Host.Node;

namespace Paddock.Host.Vms;

/// <summary>A VM's files on this host: its spec, its disks (through qemu-img), the images it may read, and their end.</summary>
public sealed class VmFiles(
    IOptions<AgentOptions> options, VmTable vms, ImageCache cache, ImageAccess access, ConfinementGuard guard, ResourceLimiter limiter, NetworkKeeper networks,
    TimeProvider clock, ILogger<VmFiles> log)
{
    private readonly ImageStore _images = new(Directory.CreateDirectory(options.Value.ImagesDir).FullName);

    /// <summary>qemu-img as the agent, for disks nobody else has written yet (new overlays and blank disks).</summary>
    public DiskImages Disks { get; } = new();

    /// <summary>qemu-img on the VM's own disks, as its own uid (their headers are the guest's to forge).</summary>
    public VmDisks DisksOf(VmSpec spec) => new(Disks, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);

    /// <summary>Where a disk's base image is on this host, which is what its header must name; null for a standalone disk.</summary>
    public string? BaseOf(DiskSpec disk) => disk.BaseImage is { } name ? _images.Resolve(name) : null;

    /// <summary>Gives a file the agent made to the VM's uid (0600), for QEMU to open.</summary>
    public void GiveToVm(VmSpec spec, string path) => RunDirectory.SecureFile(path, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);

    /// <summary>The spec as this host holds it from now on: in memory, and in spec.json written whole or not at all.</summary>
    public static async Task KeepSpecAsync(VmRuntime vm, VmSpec spec, CancellationToken ct)
    {
        // A spec from the portal knows no root ports: the devices keep theirs (see DeviceLayout).
        spec = Engine.Qemu.DeviceLayout.Carry(vm.Spec, spec);
        await RunDirectory.WriteAtomicallyAsync(vm.Paths.SpecFile, JsonSerializer.Serialize(spec), ct);
        vm.Spec = spec;
        vm.RecordProblem = null;
    }

    /// <summary>
    /// The spec this host holds, read at start without following a link. One that does not read is
    /// moved aside (<c>spec.json.corrupt-&lt;time&gt;</c>, kept for an admin to look at) and null comes
    /// back, with the VM's <see cref="VmRuntime.RecordProblem"/> saying so: the portal holds the VM
    /// until an admin has its record sent again, and the agent goes on with the other VMs.
    /// </summary>
    public async Task<VmSpec?> ReadSpecAsync(VmRuntime vm, CancellationToken ct)
    {
        try
        {
            await using var file = RunDirectory.OpenForReading(vm.Paths.SpecFile);
            // Parsed, not validated: a spec an older agent wrote may not pass today's rules, and its VM still runs.
            return await JsonSerializer.DeserializeAsync<VmSpec>(file, cancellationToken: ct) ?? throw new JsonException("The file holds null.");
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            // rename(2) moves the name itself, a link included: nothing is followed.
            var aside = $"{vm.Paths.SpecFile}.corrupt-{clock.GetUtcNow():yyyyMMddTHHmmssZ}";
            File.Move(vm.Paths.SpecFile, aside, overwrite: true);
            vm.RecordProblem = $"Its record on the host (spec.json) could not be read ({e.Message}); it was moved aside to {Path.GetFileName(aside)}. Resolving sends the host the portal's record.";
            log.LogError("VM {Vm}: {Problem}", vm.Id, vm.RecordProblem);
            return null;
        }
    }

    /// <summary>Writes who may read these images from the VMs on this host, and <paramref name="also"/> (a spec about to be one's).</summary>
    public Task ShareImagesAsync(IEnumerable<string> images, CancellationToken ct, VmSpec? also = null) =>
        access.ShareAsync(cache.Root, images, () => [.. vms.Specs(), .. also is null ? Array.Empty<VmSpec>() : [also]], ct);

    /// <summary>A NIC left a network: the network goes if nothing else here uses it, and its tap's walls go.</summary>
    public void NetworksChanged() => networks.Schedule();

    /// <summary>Removes the VM's run directory and cgroups, and the VM from the table; a network only it used goes too.</summary>
    public void Forget(VmRuntime vm)
    {
        RunDirectory.Delete(vm.Paths);
        vm.Spec = null;
        vms.Remove(vm.Id);
        limiter.Release(vm.Id);
        networks.Schedule();
    }
}
