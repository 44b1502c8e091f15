using System.Text.Json;
using Paddock.Engine.Isolation;
using Paddock.Engine.Qmp;

namespace Paddock.Host.Vms;

/// <summary>
/// Applies a VM's noisy-neighbour limits once its QEMU runs: CPU weight and cap through its cgroup,
/// disk I/O through a QEMU throttle group over all its disks (block_set_io_throttle), read back
/// from QEMU. Returns what was applied and what could not be, for the portal to show; a limit that
/// cannot be applied never stops the VM.
/// </summary>
public sealed class ResourceLimiter(CpuCgroup cgroup, ILogger<ResourceLimiter> log)
{
    internal async Task<string?> ApplyAsync(VmRuntime vm, QmpClient qmp, int pid, CancellationToken ct)
    {
        var spec = vm.Spec!;
        var limits = spec.Limits;
        if (!limits.HasCpu && !limits.HasDisk)
        {
            return null;
        }

        var applied = new List<string>();
        var missed = new List<string>();
        if (limits.HasCpu)
        {
            var what = string.Join(", ", new[] { limits.CpuWeight is { } w ? $"CPU weight {w}" : null, limits.CpuLimitPercent is { } p ? $"CPU cap {p}%" : null }.OfType<string>());
            try
            {
                applied.Add($"{what} ({cgroup.Apply(spec.Id, pid, limits.CpuWeight, limits.CpuLimitPercent)})");
            }
            catch (IOException e)
            {
                missed.Add($"{what}: {e.Message}");
            }
        }

        if (limits.HasDisk)
        {
            var what = string.Join(", ", new[] { limits.DiskIops is { } i ? $"{i} IOPS" : null, limits.DiskBytesPerSecond is { } b ? $"{b / (1024 * 1024)} MiB/s" : null }.OfType<string>());
            var group = $"vm-{spec.Id:N}";
            try
            {
                foreach (var disk in spec.Disks)
                {
                    // All of the VM's disks share one throttle group: the limit is the VM's, not each disk's.
                    await qmp.ExecuteAsync("block_set_io_throttle", new Dictionary<string, object>
                    {
                        // The QOM path of the virtio-blk device inside the PCI proxy: that one has the block backend.
                        ["id"] = $"/machine/peripheral/disk-{disk.Id}/virtio-backend",
                        ["group"] = group,
                        ["iops"] = limits.DiskIops ?? 0,
                        ["iops_rd"] = 0,
                        ["iops_wr"] = 0,
                        ["bps"] = limits.DiskBytesPerSecond ?? 0,
                        ["bps_rd"] = 0,
                        ["bps_wr"] = 0,
                    }, ct);
                }

                var seen = await QueryIopsAsync(qmp, $"disk-{spec.Disks[0].Id}", ct);
                if (seen != (limits.DiskIops ?? 0))
                {
                    missed.Add($"{what}: QEMU reports {seen} IOPS on the boot disk after setting it");
                }
                else
                {
                    applied.Add($"{what} (QEMU throttle group {group})");
                }
            }
            catch (QmpException e)
            {
                missed.Add($"{what}: QEMU refused: {e.Message}");
            }
        }

        var note = $"{(applied.Count > 0 ? $"Applied: {string.Join("; ", applied)}." : "")}{(missed.Count > 0 ? $"{(applied.Count > 0 ? " " : "")}Not applied: {string.Join("; ", missed)}." : "")}";
        log.LogInformation("Limits of VM {Vm}: {Note}", spec.Id, note);
        return note;
    }

    /// <summary>Removes the VM's cgroup once the VM is gone.</summary>
    public void Release(Guid vmId) => cgroup.Remove(vmId);

    /// <summary>Asks the guest's balloon for the spec's target size (QMP <c>balloon</c> takes the guest's size, in bytes).</summary>
    public static Task BalloonAsync(QmpClient qmp, Paddock.Engine.Vms.VmSpec spec, CancellationToken ct) =>
        qmp.ExecuteAsync("balloon", new Dictionary<string, object> { ["value"] = (spec.BalloonTargetMiB ?? spec.MemoryMiB) * 1024L * 1024 }, ct);

    private static async Task<long> QueryIopsAsync(QmpClient qmp, string deviceId, CancellationToken ct)
    {
        var blocks = await qmp.ExecuteAsync("query-block", ct: ct);
        foreach (var block in blocks.EnumerateArray())
        {
            if (block.TryGetProperty("qdev", out var qdev) && qdev.GetString() is { } path && path.Contains($"/{deviceId}/", StringComparison.Ordinal)
                && block.TryGetProperty("inserted", out var inserted) && inserted.TryGetProperty("iops", out var iops))
            {
                return iops.GetInt64();
            }
        }

        return -1;
    }
}
