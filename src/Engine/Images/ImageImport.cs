using System.Security.Cryptography;

namespace Paddock.Engine.Images;

public enum ImageKind
{
    /// <summary>An ISO 9660 CD image, kept as it is (raw) and attached read-only as a CD-ROM.</summary>
    Iso,
    /// <summary>A disk image in one of <see cref="ImageImport.DiskFormats"/>, converted to a standalone qcow2.</summary>
    Disk,
}

/// <summary>An image that may not enter the library; <see cref="Exception.Message"/> says why, for the person who uploaded it.</summary>
public sealed class ImageRefusedException(string reason) : Exception(reason);

/// <summary>What the library keeps of an accepted image.</summary>
public sealed record ImportedImage(string Path, string Format, long SizeBytes, long VirtualSize, string Sha256)
{
    /// <summary>The uid that owned the file qemu-img wrote (the converted disk; for an ISO, root's upload), where the system tells.</summary>
    public int? WrittenBy { get; init; }
}

/// <summary>
/// What an import may take. <see cref="AdmitOutput"/> is asked, with what <c>qemu-img measure</c> says the
/// conversion would write, before anything is converted: it reserves that much or throws
/// <see cref="ImageRefusedException"/>, and returns the most the conversion may write (its file size limit).
/// </summary>
public sealed record ImportLimits(long MaxVirtualSize, Func<long, CancellationToken, Task<long>> AdmitOutput);

/// <summary>
/// Takes an uploaded file into the image library or refuses it. The format is always stated, never
/// probed (a raw disk with a qcow2 header stays raw); an image that names any other file (a backing
/// file, a qcow2 external data file, VMDK extents) is refused before anything reads through it into
/// a library file (CVE-2022-47951); a split or multi-extent VMDK is refused; an image whose
/// conversion would write more than the uploader may keep is refused before it is converted; disk
/// images are converted into a standalone qcow2. qemu-img runs as <paramref name="disks"/> says (for
/// uploads, sandboxed), on the files of an <see cref="UploadStaging"/>; the result is copied out of it
/// to the target, which a refusal never leaves behind.
/// </summary>
public sealed class ImageImport(DiskImages disks)
{
    /// <summary>The formats a disk image may be uploaded in.</summary>
    public static readonly IReadOnlyList<string> DiskFormats = ["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"];

    /// <summary>ISO 9660: "CD001" at byte 1 of the first volume descriptor, sector 16 (ECMA-119 8.1).</summary>
    private const long IsoSignatureOffset = 16 * 2048 + 1;

    public async Task<ImportedImage> ImportAsync(
        UploadStaging staging, ImageKind kind, string format, string target, ImportLimits limits, CancellationToken ct = default)
    {
        try
        {
            var (source, finalFormat) = kind switch
            {
                ImageKind.Iso => (await IsoAsync(staging, format, ct), "raw"),
                ImageKind.Disk => (await DiskAsync(staging, format, limits, ct), "qcow2"),
                _ => throw new ImageRefusedException("Kind: ISO or disk image."),
            };
            var (sha, size, writer) = await staging.CopyOutAsync(source, target, writtenBySandbox: kind == ImageKind.Disk, ct);
            // Read again from the copy, which the sandbox may read but not change: what is kept names no other file.
            var info = await disks.InfoAsync(target, finalFormat, ct);
            if (info.ReferencesOtherFiles)
            {
                throw new ImageRefusedException("The converted image refers to other files.");
            }

            return new ImportedImage(target, finalFormat, size, info.VirtualSize, sha) { WrittenBy = writer };
        }
        catch
        {
            File.Delete(target);
            throw;
        }
    }

    public static async Task<string> Sha256Async(string path, CancellationToken ct = default)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }

    private static async Task<string> IsoAsync(UploadStaging staging, string format, CancellationToken ct)
    {
        if (format != "raw" && format != "iso")
        {
            throw new ImageRefusedException($"Format: an ISO is a raw CD image, not {format}.");
        }

        var signature = new byte[5];
        await using (var file = UploadStaging.OpenRead(staging.UploadPath))
        {
            file.Seek(IsoSignatureOffset, SeekOrigin.Begin);
            if (await file.ReadAtLeastAsync(signature, signature.Length, throwOnEndOfStream: false, ct) < signature.Length
                || signature is not [(byte)'C', (byte)'D', (byte)'0', (byte)'0', (byte)'1'])
            {
                throw new ImageRefusedException("This is not an ISO 9660 CD image (no CD001 volume descriptor at sector 16).");
            }
        }

        return staging.UploadPath;
    }

    private async Task<string> DiskAsync(UploadStaging staging, string format, ImportLimits limits, CancellationToken ct)
    {
        if (!DiskFormats.Contains(format))
        {
            throw new ImageRefusedException($"Format: one of {string.Join(", ", DiskFormats)}.");
        }

        if (format == "vmdk" && VmdkDescriptor.Refusal(await HeadAsync(staging, ct)) is { } descriptor)
        {
            throw new ImageRefusedException(descriptor);
        }

        var info = await CheckedInfoAsync(staging.UploadPath, format, limits.MaxVirtualSize, ct);
        long required;
        try
        {
            required = await disks.MeasureAsync(staging.UploadPath, format, ct);
        }
        catch (QemuImgException e)
        {
            throw new ImageRefusedException($"This {format} image cannot be measured: {Reason(e)}");
        }

        var mayWrite = await limits.AdmitOutput(required, ct);
        var converter = disks.Sandbox is { } sandbox ? disks.Confined(sandbox with { FileSizeBytes = mayWrite }) : disks;
        try
        {
            await converter.ConvertAsync(staging.UploadPath, format, staging.OutputPath, ct);
        }
        catch (QemuImgException e) when (!Hosting.DiskRoom.SaysFull(e.Stderr))
        {
            throw new ImageRefusedException(
                "The image could not be converted: " +
                $"{Reason(e)}{(e.ExitCode == 128 + 25 ? $" (at most {mayWrite} bytes, virtual size {info.VirtualSize})" : "")}");
        }

        return staging.OutputPath;
    }

    private async Task<DiskImageInfo> CheckedInfoAsync(string upload, string format, long maxVirtualSize, CancellationToken ct)
    {
        DiskImageInfo info;
        try
        {
            info = await disks.InfoAsync(upload, format, ct);
        }
        catch (QemuImgException e)
        {
            throw new ImageRefusedException($"This is not a valid {format} image: {Reason(e)}");
        }

        if (VmdkDescriptor.Refusal(info) is { } split)
        {
            throw new ImageRefusedException(split);
        }

        if (info.ReferencesOtherFiles)
        {
            throw new ImageRefusedException(
                $"The image refers to other files ({string.Join(", ", info.ExternalFiles.Select(f => $"'{f}'"))}): backing files, external data files "
                + "and VMDK extents are refused, since they would make the host read its own files into your image. Upload a standalone image.");
        }

        if (info.Encrypted)
        {
            throw new ImageRefusedException("The image is encrypted; upload it decrypted.");
        }

        if (info.VirtualSize > maxVirtualSize)
        {
            throw new ImageRefusedException(
                $"The image's disk is {info.VirtualSize / (1024 * 1024)} MiB; at most {maxVirtualSize / (1024 * 1024)} MiB are allowed.");
        }

        return info;
    }

    private static async Task<byte[]> HeadAsync(UploadStaging staging, CancellationToken ct)
    {
        var head = new byte[VmdkDescriptor.HeadBytes];
        await using var file = UploadStaging.OpenRead(staging.UploadPath);
        var read = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct);
        return head[..read];
    }

    private static string Reason(QemuImgException e) =>
        QemuImgSandbox.LimitHit(e.ExitCode)
        ?? e.Stderr.Trim().Split('\n').LastOrDefault(l => l.Length > 0)?.Replace("qemu-img: ", "", StringComparison.Ordinal)
        ?? "qemu-img refused it.";
}
