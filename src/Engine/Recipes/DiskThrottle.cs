using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Recipes;

/// <summary>A VM's disk I/O limit: one QEMU throttle group over all its disks, so the limit is the VM's, not each disk's.</summary>
public static class DiskThrottle
{
    public static string GroupOf(VmSpec spec) => $"vm-{spec.Id:N}";

    /// <summary>Sets the spec's limits on every disk, then returns the IOPS limit QEMU reports on the boot disk (-1 when it reports none).</summary>
    public static async Task<long> ApplyAsync(QmpClient qmp, VmSpec spec, CancellationToken ct)
    {
        foreach (var disk in spec.Disks)
        {
            // The QOM path of the virtio-blk device inside the PCI proxy: that one has the block backend.
            await qmp.BlockSetIoThrottleAsync($"/machine/peripheral/disk-{disk.Id}/virtio-backend", GroupOf(spec),
                spec.Limits.DiskIops ?? 0, spec.Limits.DiskBytesPerSecond ?? 0, ct).ConfigureAwait(false);
        }

        var boot = $"/disk-{spec.Disks[0].Id}/";
        var block = (await qmp.QueryBlockAsync(ct).ConfigureAwait(false))
            .FirstOrDefault(b => b.Qdev is { } path && path.Contains(boot, StringComparison.Ordinal) && b.Iops is not null);
        return block?.Iops ?? -1;
    }
}
