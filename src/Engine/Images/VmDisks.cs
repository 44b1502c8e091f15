using Paddock.Engine.Hosting;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Images;

/// <summary>
/// qemu-img on one VM's own disks. Its uid writes them, so their headers are the guest's to forge
/// (a backing file or data file naming a host file, CVE-2022-47951's trick): qemu-img runs as that
/// uid, without network, under limits (Nova's prlimit), so a forged header reaches only what the
/// VM could read anyway; and before a copy reads an overlay, its header must name exactly the
/// base the VM was made from.
/// </summary>
public sealed class VmDisks(DiskImages qemuImg, int uid, int gid)
{
    /// <summary>Room for qcow2 metadata and snapshots' memory states beyond the guest's size in a file qemu-img changes.</summary>
    private const long Slack = 4L << 30;

    /// <summary><c>qemu-img info</c>, as the VM's uid; it writes nothing.</summary>
    public Task<DiskImageInfo> InfoAsync(string disk, CancellationToken ct) => AsVm(0).InfoAsync(disk, "qcow2", ct);

    /// <summary>qemu-img snapshot (c, a or d) on the stopped VM's disk of <paramref name="sizeBytes"/> (its spec's), as the VM's uid.</summary>
    public Task SnapshotAsync(string disk, long sizeBytes, char action, string tag, CancellationToken ct) =>
        AsVm(2 * sizeBytes + Slack).SnapshotAsync(disk, action, tag, ct);

    /// <summary>Frees the leaked clusters of the stopped VM's disk of <paramref name="sizeBytes"/>, as the VM's uid; returns how many.</summary>
    public Task<long> RepairLeaksAsync(string disk, long sizeBytes, CancellationToken ct) =>
        AsVm(2 * sizeBytes + Slack).RepairLeaksAsync(disk, ct);

    /// <summary>Grows the stopped VM's disk, as the VM's uid.</summary>
    public Task ResizeAsync(string disk, long sizeBytes, CancellationToken ct) =>
        AsVm(2 * sizeBytes + Slack).ResizeAsync(disk, sizeBytes, ct);

    /// <summary>
    /// The disk's header, refused (<see cref="TamperingException"/>) unless it is a plain qcow2 whose
    /// only other file is <paramref name="expectedBase"/> (a qcow2), or none when that is null.
    /// </summary>
    public async Task<DiskImageInfo> CheckAsync(string disk, string? expectedBase, CancellationToken ct)
    {
        var info = await InfoAsync(disk, ct).ConfigureAwait(false);
        if (HeaderProblem(info, expectedBase) is { } problem)
            throw new TamperingException($"The disk {Path.GetFileName(disk)} {problem}; it was not read.");
        return info;
    }

    /// <summary>
    /// The disk, checked, copied into a new standalone qcow2 at <paramref name="target"/> (which must
    /// not exist, in a directory of this process's): made here, lent to the VM's uid for qemu-img to
    /// fill, and left that uid's (0600); the caller gives it to its next owner. When <paramref name="maxBytes"/>
    /// is given, a copy that qemu-img measure says would take more is refused before a byte is written.
    /// A disk that fills up meanwhile is a <see cref="DiskFullException"/>; the partial copy is the caller's to remove.
    /// </summary>
    /// <param name="progress">Told how much of the disk (of its virtual size) is copied, as qemu-img goes.</param>
    public async Task CopyAsync(string disk, string? expectedBase, string target, CancellationToken ct, long? maxBytes = null, IProgress<Contract.WorkDone>? progress = null)
    {
        var info = await CheckAsync(disk, expectedBase, ct).ConfigureAwait(false);
        var required = await AsVm(0).MeasureAsync(disk, "qcow2", ct).ConfigureAwait(false);
        if (required > maxBytes)
            throw new ImageTooLargeException($"The copy of {Path.GetFileName(disk)}", required, maxBytes.Value);
        var room = DiskRoom.At(Path.GetDirectoryName(Path.GetFullPath(target))!, $"a full copy of {Path.GetFileName(disk)}", required);
        try
        {
            await qemuImg.CreateBlankAsync(target, info.VirtualSize, ct).ConfigureAwait(false);
            RunDirectory.SecureFile(target, uid, gid);
            var percent = progress is null ? null
                : new Progress<double>(p => progress.Report(new Contract.WorkDone((long)(p / 100 * info.VirtualSize), info.VirtualSize, Contract.WorkDone.Bytes)));
            progress?.Report(new Contract.WorkDone(0, info.VirtualSize, Contract.WorkDone.Bytes));
            await AsVm(required + Slack).CopyIntoAsync(disk, target, ct, percent).ConfigureAwait(false);
        }
        catch (Exception e) when (room.Full(e) is { } full)
        {
            throw full;
        }
    }

    /// <summary>What is wrong with a VM disk's header, or null: the only file it may name is its base.</summary>
    internal static string? HeaderProblem(DiskImageInfo info, string? expectedBase)
    {
        if (info.Format != "qcow2")
            return $"is {info.Format}, not qcow2";
        if (info.Encrypted)
            return "is encrypted";
        if (info.DataFile is { } dataFile)
            return $"names an external data file ('{dataFile}')";
        if (expectedBase is null)
            return info.BackingFile is { } stray ? $"names a backing file ('{stray}') though it has none" : null;
        if (info.BackingFile != Path.GetFullPath(expectedBase))
            return $"names '{info.BackingFile ?? "no file"}' as its backing file, not its base '{expectedBase}'";
        return info.BackingFormat is null or "qcow2" ? null : $"names its base as {info.BackingFormat}, not qcow2";
    }

    private DiskImages AsVm(long fileSizeBytes) =>
        qemuImg.Confined(QemuImgSandbox.For(uid, gid, QemuImgSandbox.RunningAsRoot) with { FileSizeBytes = fileSizeBytes });
}
