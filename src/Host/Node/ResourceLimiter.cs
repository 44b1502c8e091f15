using System.Text.Json;
using Paddock.Engine.Hosting;
using Paddock.Engine.Isolation;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// Applies a VM's limits once its QEMU runs: always the bounds on memory and tasks that keep a
/// hostile QEMU from exhausting the host; the noisy-neighbour limits its flavor sets: CPU weight and
/// cap, both through this OS's <see cref="IProcessBounds"/> (cgroups, a job object); disk I/O through a QEMU throttle group
/// over all its disks (<see cref="DiskThrottle"/>), read back from QEMU. Returns what was applied and
/// what could not be, for the portal to show; a limit that cannot be applied never stops the VM.
/// </summary>
public sealed class ResourceLimiter(IProcessBounds bounds, ILogger<ResourceLimiter> log)
{
    public async Task<string?> ApplyAsync(VmSpec spec, QmpClient qmp, int pid, Accelerator accelerator, CancellationToken ct)
    {
        var limits = spec.Limits;
        var applied = new List<string>();
        var missed = new List<string>();
        bounds.Apply(new BoundsRequest(spec.Id, pid, spec.MemoryMiB, accelerator, limits.CpuWeight, limits.CpuLimitPercent), applied, missed);
        if (limits.HasDisk)
        {
            await ApplyDiskAsync(spec, qmp, applied, missed, ct);
        }

        var note = (applied.Count > 0 ? $"Applied: {string.Join("; ", applied)}." : "")
            + (missed.Count > 0 ? $"{(applied.Count > 0 ? " " : "")}Not applied: {string.Join("; ", missed)}." : "");
        log.LogInformation("Limits of VM {Vm}: {Note}", spec.Id, note);
        return note;
    }

    private static async Task ApplyDiskAsync(VmSpec spec, QmpClient qmp, List<string> applied, List<string> missed, CancellationToken ct)
    {
        var limits = spec.Limits;
        var what = string.Join(", ",
            new[] { limits.DiskIops is { } i ? $"{i} IOPS" : null, limits.DiskBytesPerSecond is { } b ? $"{b / (1024 * 1024)} MiB/s" : null }.OfType<string>());
        try
        {
            var seen = await DiskThrottle.ApplyAsync(qmp, spec, ct);
            if (seen != (limits.DiskIops ?? 0))
            {
                missed.Add($"{what}: QEMU reports {seen} IOPS on the boot disk after setting it");
            }
            else
            {
                applied.Add($"{what} (QEMU throttle group {DiskThrottle.GroupOf(spec)})");
            }
        }
        catch (QmpException e)
        {
            missed.Add($"{what}: QEMU refused: {e.Message}");
        }
    }

    /// <summary>Lets go of the VM's bounds (its cgroups) once the VM is gone.</summary>
    public void Release(Guid vmId) => bounds.Release(vmId);

    /// <summary>Asks the guest's balloon for the spec's target size (QMP <c>balloon</c> takes the guest's size, in bytes).</summary>
    public static Task BalloonAsync(QmpClient qmp, VmSpec spec, CancellationToken ct) =>
        qmp.BalloonAsync((spec.BalloonTargetMiB ?? spec.MemoryMiB) * 1024L * 1024, ct);
}
