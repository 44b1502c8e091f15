using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using Paddock.Engine.Hosting;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Images;

/// <summary>Uploads: from members (reserved, streamed, checked and converted in the sandbox) and from hosts (a template's image).</summary>
public sealed partial class ImageService
{
    private static readonly TimeSpan RenewEvery = UploadReservations.Lease / 3;

    private string Incoming => Path.Combine(LibraryDir, ".incoming");

    /// <summary>
    /// Reserves the declared <paramref name="length"/> against the uploader's image storage, streams at
    /// most that many bytes into a staging directory (never whole in memory) while it counts and hashes,
    /// then imports it in the sandbox: checked with its stated format, measured, converted, named by its
    /// checksum. The reservation becomes the image's size, or is freed; a refusal leaves nothing on disk.
    /// </summary>
    public async Task<LibraryImage> UploadAsync(ClaimsPrincipal user, string? name, ImageKind kind, string? format, Stream body, long? length, CancellationToken ct = default)
    {
        Check(ValidateName(name), "name");
        format = (format ?? (kind == ImageKind.Iso ? "raw" : "")).Trim().ToLowerInvariant();
        Check(kind == ImageKind.Disk && !ImageImport.DiskFormats.Contains(format) ? $"Format: one of {string.Join(", ", ImageImport.DiskFormats)}." : null, "format");
        Check(length is null ? "File: the upload must state its size (Content-Length)." : null, "file", StatusCodes.Status411LengthRequired);
        Check(length <= 0 ? "File: the upload is empty." : null, "file");
        ImageSettings settings;
        await using (var session = _store.QuerySession())
        {
            settings = await SettingsAsync(session, ct);
        }

        var max = settings.MaxUploadMiB * 1024L * 1024;
        Check(length > max ? SizeRefusal(length!.Value, max) : null, "file", StatusCodes.Status413PayloadTooLarge);

        var owner = user.UserId();
        var id = Guid.NewGuid();
        await _reservations.ReserveAsync(owner, id, length!.Value, "this upload", ct);
        var target = Path.Combine(Incoming, $"{id:N}.import");
        // The upload, then beside it its conversion (or, for an ISO, its checked copy).
        var room = PortalRoom("this upload", 2 * length.Value);
        var kept = false;
        try
        {
            using var staging = UploadStaging.Create(Incoming, id.ToString("N"), _sandbox);
            var uploadSha = await ReceiveAsync(body, staging, length.Value, () => _reservations.ReserveAsync(owner, id, length.Value, "this upload", ct), ct);
            var imported = await ImportAsync(staging, kind, format, target, owner, id, max, ct);
            if (kind == ImageKind.Iso && imported.Sha256 != uploadSha)
            {
                throw new ImageRequestException("File: the upload changed while it was checked.", "file", StatusCodes.Status422UnprocessableEntity);
            }

            var image = await KeepAsync(user, id, name!, kind, format, imported, uploadSha, ct);
            kept = true;
            return image;
        }
        catch (Exception e) when (room.Full(e) is { } full)
        {
            throw DiskFull(full);
        }
        finally
        {
            File.Delete(target);
            if (!kept)
            {
                await _reservations.ReleaseAsync(id);
            }
        }
    }

    private async Task<ImportedImage> ImportAsync(UploadStaging staging, ImageKind kind, string format, string target, Guid owner, Guid id, long maxUpload, CancellationToken ct)
    {
        // The conversion is admitted at what qemu-img measure says it writes, against the storage and the
        // upload limit; its file size limit is what the storage leaves (the backstop should measure be wrong).
        var limits = new ImportLimits(VmSizes.MaxDiskMiB * 1024L * 1024, async (required, token) =>
        {
            if (required > maxUpload)
            {
                throw new ImageRefusedException($"Converted, the image would take {Sizes.Mib(required)} (qemu-img measure), more than the upload limit of {Sizes.Mib(maxUpload)}.");
            }

            try
            {
                var standing = await _reservations.ReserveAsync(owner, id, required, "converted, the image (qemu-img measure)", token);
                return Math.Min(standing.Left, maxUpload);
            }
            catch (ImageRequestException e)
            {
                throw new ImageRefusedException(e.Message);
            }
        });
        try
        {
            var imported = await new ImageImport(new DiskImages(sandbox: _sandbox)).ImportAsync(staging, kind, format, target, limits, ct);
            if (kind == ImageKind.Disk)
            {
                _log.LogInformation("Upload {Upload}: qemu-img converted it as uid {Uid} (the owner of what it wrote)", id, imported.WrittenBy);
            }

            return imported;
        }
        catch (ImageRefusedException e)
        {
            var status = e.Message.StartsWith("Image storage:", StringComparison.Ordinal) || e.Message.StartsWith("Converted,", StringComparison.Ordinal)
                ? StatusCodes.Status413PayloadTooLarge
                : StatusCodes.Status422UnprocessableEntity;
            throw new ImageRequestException(e.Message, "file", status);
        }
    }

    /// <summary>Moves the imported file into the library and records the image, giving up the reservation in the same transaction.</summary>
    private async Task<LibraryImage> KeepAsync(ClaimsPrincipal user, Guid id, string name, ImageKind kind, string format, ImportedImage imported, string uploadSha, CancellationToken ct)
    {
        var image = new LibraryImage
        {
            Id = id,
            Name = name.Trim(),
            Kind = kind,
            UploadedFormat = format,
            Format = imported.Format,
            SizeBytes = imported.SizeBytes,
            VirtualSize = imported.VirtualSize,
            Sha256 = imported.Sha256,
            UploadSha256 = uploadSha,
            OwnerId = user.UserId(),
            Visibility = Sharing.Private,
            CreatedAt = _clock.GetUtcNow(),
        };
        await using var session = _store.LightweightSession();
        await _reservations.CommitAsync(session, image.OwnerId, id, image.SizeBytes, ct);

        // Same bytes, same file: a second upload of them shares the first one's file.
        var final = PathOf(image);
        if (!File.Exists(final))
        {
            File.Move(imported.Path, final);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(final, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
        }

        session.Insert(image);
        await session.SaveChangesAsync(ct);
        _log.LogInformation("Image {Image} ({Kind}, {Bytes} bytes, sha256 {Sha}) uploaded", image.Id, image.Kind, image.SizeBytes, image.Sha256);
        _changes.Publish(new ImagesChanged());
        return image;
    }

    /// <summary>Streams at most <paramref name="max"/> bytes of <paramref name="body"/> into the staging's upload file and hashes them, renewing the reservation now and then.</summary>
    private async Task<string> ReceiveAsync(Stream body, UploadStaging staging, long max, Func<Task>? renew, CancellationToken ct)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long total = 0;
        var renewed = _clock.GetTimestamp();
        await using var file = staging.CreateUpload();
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            if (total > max)
            {
                throw new ImageRequestException($"File: more than the {Sizes.Mib(max)} the upload stated or is allowed.", "file", StatusCodes.Status413PayloadTooLarge);
            }

            sha.AppendData(buffer, 0, read);
            await file.WriteAsync(buffer.AsMemory(0, read), ct);
            if (renew is not null && _clock.GetElapsedTime(renewed) > RenewEvery)
            {
                await renew();
                renewed = _clock.GetTimestamp();
            }
        }

        if (total == 0)
        {
            throw new ImageRequestException("File: the upload is empty.", "file");
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// Takes an image a host made (a template) into the library: its name must be its checksum, and
    /// it must be a standalone qcow2, since a host is trusted no further than an upload (so qemu-img
    /// reads it in the same sandbox).
    /// </summary>
    public async Task AdoptAsync(string fileName, Stream body, long? length, CancellationToken ct = default)
    {
        if (LibraryName().Match(fileName) is not { Success: true } match || match.Groups[2].Value != "qcow2")
        {
            throw new ImageRequestException("Not a library image name.", status: StatusCodes.Status404NotFound);
        }

        var final = Path.Combine(LibraryDir, fileName);
        var name = $"{Guid.NewGuid():N}";
        var copy = Path.Combine(Incoming, $"{name}.adopt");
        var room = PortalRoom($"taking image {fileName} into the library", 2 * (length ?? 0));
        try
        {
            using var staging = UploadStaging.Create(Incoming, name, _sandbox);
            var sha = await ReceiveAsync(body, staging, VmSizes.MaxDiskMiB * 1024L * 1024, renew: null, ct);
            if (sha != match.Groups[1].Value)
            {
                throw new ImageRequestException($"The image arrived with checksum {sha}, not the one its name states.", status: StatusCodes.Status422UnprocessableEntity);
            }

            // Read back into root's own file first: the sandbox then checks bytes it can no longer change.
            if ((await staging.CopyOutAsync(staging.UploadPath, copy, writtenBySandbox: false, ct)).Sha256 != sha
                || (await new DiskImages(sandbox: _sandbox).InfoAsync(copy, "qcow2", ct)).ReferencesOtherFiles)
            {
                throw new ImageRequestException("The image refers to other files.", status: StatusCodes.Status422UnprocessableEntity);
            }

            if (!File.Exists(final))
            {
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                }

                File.Move(copy, final);
            }
        }
        catch (Exception e) when (room.Full(e) is { } full)
        {
            throw DiskFull(full);
        }
        catch (QemuImgException e)
        {
            throw new ImageRequestException($"This is not a valid qcow2 image: {e.Message}", status: StatusCodes.Status422UnprocessableEntity);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>What the library's disk had free, for the sentence of a write that meets a full disk.</summary>
    private DiskRoom PortalRoom(string what, long neededBytes) => DiskRoom.At(LibraryDir, what, neededBytes, "portal's");

    /// <summary>507: the portal could not store what it was sent; nothing of it was kept.</summary>
    private static ImageRequestException DiskFull(DiskFullException e) =>
        new($"{e.Message} Nothing of it was kept.", "file", StatusCodes.Status507InsufficientStorage);
}
