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
public sealed record ImportedImage(string Path, string Format, long SizeBytes, long VirtualSize, string Sha256);

/// <summary>
/// Takes an uploaded file into the image library or refuses it. The format is always stated, never
/// probed (a raw disk with a qcow2 header stays raw); an image that names any other file (a backing
/// file, a qcow2 external data file, VMDK extents) is refused before anything reads through it into
/// a library file (CVE-2022-47951); disk images are converted into a standalone qcow2. Whatever the
/// outcome, the upload itself is removed, and a refusal leaves nothing behind.
/// </summary>
public sealed class ImageImport(DiskImages disks)
{
    /// <summary>The formats a disk image may be uploaded in.</summary>
    public static readonly IReadOnlyList<string> DiskFormats = ["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"];

    /// <summary>ISO 9660: "CD001" at byte 1 of the first volume descriptor, sector 16 (ECMA-119 8.1).</summary>
    private const long IsoSignatureOffset = 16 * 2048 + 1;

    public async Task<ImportedImage> ImportAsync(string upload, ImageKind kind, string format, string target, long maxVirtualSize, CancellationToken ct = default)
    {
        var partial = target + ".partial";
        try
        {
            var (path, finalFormat) = kind switch
            {
                ImageKind.Iso => (await IsoAsync(upload, format, ct), "raw"),
                ImageKind.Disk => (await DiskAsync(upload, format, partial, maxVirtualSize, ct), "qcow2"),
                _ => throw new ImageRefusedException("Kind: ISO or disk image."),
            };
            File.Move(path, target);
            var info = await disks.InfoAsync(target, finalFormat, ct);
            return new ImportedImage(target, finalFormat, new FileInfo(target).Length, info.VirtualSize, await Sha256Async(target, ct));
        }
        catch
        {
            File.Delete(target);
            throw;
        }
        finally
        {
            File.Delete(partial);
            File.Delete(upload);
        }
    }

    public static async Task<string> Sha256Async(string path, CancellationToken ct = default)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }

    private async Task<string> IsoAsync(string upload, string format, CancellationToken ct)
    {
        if (format != "raw" && format != "iso")
        {
            throw new ImageRefusedException($"Format: an ISO is a raw CD image, not {format}.");
        }

        var signature = new byte[5];
        await using (var file = File.OpenRead(upload))
        {
            file.Seek(IsoSignatureOffset, SeekOrigin.Begin);
            if (await file.ReadAtLeastAsync(signature, signature.Length, throwOnEndOfStream: false, ct) < signature.Length
                || signature is not [(byte)'C', (byte)'D', (byte)'0', (byte)'0', (byte)'1'])
            {
                throw new ImageRefusedException("This is not an ISO 9660 CD image (no CD001 volume descriptor at sector 16).");
            }
        }

        return upload;
    }

    private async Task<string> DiskAsync(string upload, string format, string partial, long maxVirtualSize, CancellationToken ct)
    {
        if (!DiskFormats.Contains(format))
        {
            throw new ImageRefusedException($"Format: one of {string.Join(", ", DiskFormats)}.");
        }

        DiskImageInfo info;
        try
        {
            info = await disks.InfoAsync(upload, format, ct);
        }
        catch (QemuImgException e)
        {
            throw new ImageRefusedException($"This is not a valid {format} image: {Reason(e)}");
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
            throw new ImageRefusedException($"The image's disk is {info.VirtualSize / (1024 * 1024)} MiB; at most {maxVirtualSize / (1024 * 1024)} MiB are allowed.");
        }

        try
        {
            await disks.ConvertAsync(upload, format, partial, ct);
        }
        catch (QemuImgException e)
        {
            throw new ImageRefusedException($"The image could not be converted: {Reason(e)}");
        }

        // Belt and braces: what was written must name no other file either.
        if ((await disks.InfoAsync(partial, "qcow2", ct)).ReferencesOtherFiles)
        {
            throw new ImageRefusedException("The converted image refers to other files.");
        }

        return partial;
    }

    private static string Reason(QemuImgException e) =>
        e.Stderr.Trim().Split('\n').LastOrDefault()?.Replace("qemu-img: ", "", StringComparison.Ordinal) ?? "qemu-img refused it.";
}
