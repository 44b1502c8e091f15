using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Images;

/// <summary>An image with what a list shows beside it.</summary>
public sealed record ImageSummary(LibraryImage Image, string OwnerName, string? GroupName);

/// <summary>An upload or image request that cannot be carried out; <see cref="Field"/> names the input at fault, <see cref="Status"/> the HTTP status.</summary>
public sealed class ImageRequestException(string message, string? field = null, int status = 400) : Exception(message)
{
    public string? Field { get; } = field;

    public int Status { get; } = status;
}

public sealed class ImageNotFoundException() : Exception("No such image.");

/// <summary>Keeps the image library: uploads (streamed, checked, converted), sharing, deletion.</summary>
public sealed partial class ImageService(IDocumentStore store, IOptions<PortalOptions> options, ChangeNotifier<ImagesChanged> changes, TimeProvider clock, ILogger<ImageService> log)
{
    public const int MaxNameLength = 64;

    private readonly ImageImport _import = new(new DiskImages());

    public string LibraryDir { get; } = Directory.CreateDirectory(options.Value.LibraryDir).FullName;

    public string PathOf(LibraryImage image) => Path.Combine(LibraryDir, image.FileName);

    public static async Task<ImageSettings> SettingsAsync(IQuerySession session, CancellationToken ct = default) =>
        await session.LoadAsync<ImageSettings>(ImageSettings.Key, ct) ?? new ImageSettings();

    public static async Task<IReadOnlyList<ImageSummary>> ListAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var groups = await GroupService.GroupsOfAsync(session, user.UserId(), ct);
        var visible = (await session.Query<LibraryImage>().OrderBy(i => i.Name).ToListAsync(ct))
            .Where(i => SharingRules.MaySee(i.OwnerId, i.Visibility, i.GroupId, user.UserId(), user.IsAdmin(), groups)).ToList();
        var owners = (await session.LoadManyAsync<PortalUser>(ct, visible.Select(i => i.OwnerId).Distinct())).ToDictionary(u => u.Id, u => u.UserName);
        var groupNames = (await session.Query<Group>().ToListAsync(ct)).ToDictionary(g => g.Id, g => g.Name);
        return [.. visible.Select(i => new ImageSummary(i, owners.GetValueOrDefault(i.OwnerId, "(removed user)"), i.GroupId is { } g ? groupNames.GetValueOrDefault(g) : null))];
    }

    /// <summary>The image when the caller may see it, otherwise null (never a hint that it exists).</summary>
    public static async Task<LibraryImage?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        var image = await session.LoadAsync<LibraryImage>(id, ct);
        return image is not null && SharingRules.MaySee(image.OwnerId, image.Visibility, image.GroupId, user.UserId(), user.IsAdmin(), await GroupService.GroupsOfAsync(session, user.UserId(), ct))
            ? image
            : null;
    }

    public static string? ValidateName(string? name) => DisplayNames.Problem(name, MaxNameLength);

    /// <summary>
    /// Streams <paramref name="body"/> to a file (never whole in memory) while it counts and hashes,
    /// stops at the admins' size limit, then imports it: checked with its stated format, converted,
    /// named by its checksum. A refusal leaves nothing on disk.
    /// </summary>
    public async Task<LibraryImage> UploadAsync(ClaimsPrincipal user, string? name, ImageKind kind, string? format, Stream body, long? length, CancellationToken ct = default)
    {
        Check(ValidateName(name), "name");
        format = (format ?? (kind == ImageKind.Iso ? "raw" : "")).Trim().ToLowerInvariant();
        Check(kind == ImageKind.Disk && !ImageImport.DiskFormats.Contains(format) ? $"Format: one of {string.Join(", ", ImageImport.DiskFormats)}." : null, "format");
        ImageSettings settings;
        long used;
        await using (var session = store.QuerySession())
        {
            settings = await SettingsAsync(session, ct);
            used = await UsedAsync(session, user.UserId(), ct);
        }

        var max = settings.MaxUploadMiB * 1024L * 1024;
        var quota = settings.StoragePerUserMiB * 1024L * 1024;
        Check(length > max ? SizeRefusal(length.Value, max) : null, "file", StatusCodes.Status413PayloadTooLarge);
        Check(used + (length ?? 0) > quota ? QuotaRefusal(length ?? 0, used, quota) : null, "file", StatusCodes.Status413PayloadTooLarge);

        var incoming = Directory.CreateDirectory(Path.Combine(LibraryDir, ".incoming")).FullName;
        var id = Guid.NewGuid();
        var upload = Path.Combine(incoming, $"{id:N}.upload");
        var target = Path.Combine(incoming, $"{id:N}.import");
        string uploadSha;
        try
        {
            uploadSha = await ReceiveAsync(body, upload, max, ct);
        }
        catch
        {
            File.Delete(upload);
            throw;
        }

        ImportedImage imported;
        try
        {
            imported = await _import.ImportAsync(upload, kind, format, target, VmService.MaxDiskMiB * 1024L * 1024, ct);
        }
        catch (ImageRefusedException e)
        {
            throw new ImageRequestException(e.Message, "file", StatusCodes.Status422UnprocessableEntity);
        }

        var image = new LibraryImage
        {
            Id = id,
            Name = name!.Trim(),
            Kind = kind,
            UploadedFormat = format,
            Format = imported.Format,
            SizeBytes = imported.SizeBytes,
            VirtualSize = imported.VirtualSize,
            Sha256 = imported.Sha256,
            UploadSha256 = uploadSha,
            OwnerId = user.UserId(),
            Visibility = Sharing.Private,
            CreatedAt = clock.GetUtcNow(),
        };
        try
        {
            if (used + image.SizeBytes > quota)
            {
                throw new ImageRequestException(QuotaRefusal(image.SizeBytes, used, quota), "file", StatusCodes.Status413PayloadTooLarge);
            }

            // Same bytes, same file: a second upload of them shares the first one's file.
            var final = PathOf(image);
            if (File.Exists(final))
            {
                File.Delete(target);
            }
            else
            {
                File.Move(target, final);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(final, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                }
            }

            await using var session = store.LightweightSession();
            session.Insert(image);
            await session.SaveChangesAsync(ct);
        }
        finally
        {
            File.Delete(target);
        }

        log.LogInformation("Image {Image} ({Kind}, {Bytes} bytes, sha256 {Sha}) uploaded", image.Id, image.Kind, image.SizeBytes, image.Sha256);
        changes.Publish(new ImagesChanged());
        return image;
    }

    private static async Task<string> ReceiveAsync(Stream body, string path, long max, CancellationToken ct)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long total = 0;
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            if (total > max)
            {
                throw new ImageRequestException(SizeRefusal(total, max), "file", StatusCodes.Status413PayloadTooLarge);
            }

            sha.AppendData(buffer, 0, read);
            await file.WriteAsync(buffer.AsMemory(0, read), ct);
        }

        if (total == 0)
        {
            throw new ImageRequestException("File: the upload is empty.", "file");
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Deletes the caller's image unless a VM still uses it (as its base or in its CD drive).</summary>
    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var image = await FindAsync(session, user, id, ct) ?? throw new ImageNotFoundException();
        if (image.OwnerId != user.UserId() && !user.IsAdmin())
        {
            throw new ImageRequestException($"Only the owner of '{image.Name}' or an admin may delete it.", status: StatusCodes.Status409Conflict);
        }

        var users = await session.Query<Vm>().Where(v => v.BaseImage == image.FileName || v.Cdrom == image.FileName).CountAsync(ct);
        if (users > 0)
        {
            throw new ImageRequestException($"'{image.Name}' is used by {users} VM{(users == 1 ? "" : "s")} (as base disk or in the CD drive); eject it or delete them first.", status: StatusCodes.Status409Conflict);
        }

        session.Delete(image);
        await session.SaveChangesAsync(ct);
        // Another library entry or a template may share the file (the same bytes twice).
        await ForgetIfUnusedAsync(image.FileName, ct);

        changes.Publish(new ImagesChanged());
    }

    /// <summary>Removes a library file that no image and no template names any more.</summary>
    public async Task ForgetIfUnusedAsync(string fileName, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var used = await session.Query<VmTemplate>().AnyAsync(t => t.Image == fileName, ct)
            || (await session.Query<LibraryImage>().Where(i => i.Sha256 == Path.GetFileNameWithoutExtension(fileName)).ToListAsync(ct)).Any(i => i.FileName == fileName);
        if (!used && LibraryName().IsMatch(fileName))
        {
            File.Delete(Path.Combine(LibraryDir, fileName));
        }
    }

    /// <summary>
    /// Takes an image a host made (a template) into the library: its name must be its checksum, and
    /// it must be a standalone qcow2, since a host is trusted no further than an upload.
    /// </summary>
    public async Task AdoptAsync(string fileName, Stream body, CancellationToken ct = default)
    {
        if (LibraryName().Match(fileName) is not { Success: true } match || match.Groups[2].Value != "qcow2")
        {
            throw new ImageRequestException("Not a library image name.", status: StatusCodes.Status404NotFound);
        }

        var final = Path.Combine(LibraryDir, fileName);
        var incoming = Directory.CreateDirectory(Path.Combine(LibraryDir, ".incoming")).FullName;
        var upload = Path.Combine(incoming, $"{Guid.NewGuid():N}.adopt");
        try
        {
            var sha = await ReceiveAsync(body, upload, VmService.MaxDiskMiB * 1024L * 1024, ct);
            if (sha != match.Groups[1].Value)
            {
                throw new ImageRequestException($"The image arrived with checksum {sha}, not the one its name states.", status: StatusCodes.Status422UnprocessableEntity);
            }

            var info = await new DiskImages().InfoAsync(upload, "qcow2", ct);
            if (info.ReferencesOtherFiles)
            {
                throw new ImageRequestException("The image refers to other files.", status: StatusCodes.Status422UnprocessableEntity);
            }

            if (!File.Exists(final))
            {
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(upload, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                }

                File.Move(upload, final);
            }
        }
        catch (QemuImgException e)
        {
            throw new ImageRequestException($"This is not a valid qcow2 image: {e.Message}", status: StatusCodes.Status422UnprocessableEntity);
        }
        finally
        {
            File.Delete(upload);
        }
    }

    /// <summary>Whether <paramref name="fileName"/> is a library file some image or template names (what agents may fetch).</summary>
    public async Task<bool> IsKnownAsync(string fileName, CancellationToken ct = default)
    {
        if (LibraryName().Match(fileName) is not { Success: true } match)
        {
            return false;
        }

        await using var session = store.QuerySession();
        return await session.Query<VmTemplate>().AnyAsync(t => t.Image == fileName, ct)
            || (await session.Query<LibraryImage>().Where(i => i.Sha256 == match.Groups[1].Value).ToListAsync(ct)).Any(i => i.FileName == fileName);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^([0-9a-f]{64})\.(qcow2|iso)$")]
    private static partial System.Text.RegularExpressions.Regex LibraryName();

    /// <summary>Admins share an image with everyone or a group, or take it back to its owner.</summary>
    public async Task ShareAsync(ClaimsPrincipal user, Guid id, Sharing sharing, Guid? groupId, CancellationToken ct = default)
    {
        if (!user.IsAdmin())
        {
            throw new ImageRequestException("Only admins share images.", status: StatusCodes.Status409Conflict);
        }

        Check(SharingRules.Validate(sharing, groupId), "visibility");
        await using var session = store.LightweightSession();
        var image = await FindAsync(session, user, id, ct) ?? throw new ImageNotFoundException();
        if (sharing == Sharing.Group && await session.LoadAsync<Group>(groupId!.Value, ct) is null)
        {
            throw new ImageRequestException("Group: no such group.", "group");
        }

        image.Visibility = sharing;
        image.GroupId = sharing == Sharing.Group ? groupId : null;
        session.Store(image);
        await session.SaveChangesAsync(ct);
        changes.Publish(new ImagesChanged());
    }

    public static string? ValidateSettings(int maxUploadMiB, int storagePerUserMiB) =>
        maxUploadMiB is < 1 or > 1024 * 1024 ? "Upload limit: between 1 and 1048576 MiB."
        : storagePerUserMiB is < 1 or > 100 * 1024 * 1024 ? "Storage per person: between 1 and 104857600 MiB."
        : null;

    public async Task SaveSettingsAsync(ClaimsPrincipal user, int maxUploadMiB, int storagePerUserMiB, CancellationToken ct = default)
    {
        if (!user.IsAdmin())
        {
            throw new ImageRequestException("Only admins change the upload limits.", status: StatusCodes.Status409Conflict);
        }

        Check(ValidateSettings(maxUploadMiB, storagePerUserMiB), "settings");
        await using var session = store.LightweightSession();
        session.Store(new ImageSettings { MaxUploadMiB = maxUploadMiB, StoragePerUserMiB = storagePerUserMiB });
        await session.SaveChangesAsync(ct);
        changes.Publish(new ImagesChanged());
    }

    private static async Task<long> UsedAsync(IQuerySession session, Guid owner, CancellationToken ct) =>
        (await session.Query<LibraryImage>().Where(i => i.OwnerId == owner).ToListAsync(ct)).Sum(i => i.SizeBytes);

    private static string SizeRefusal(long size, long max) =>
        $"File: {Mib(size)} is more than the upload limit of {Mib(max)}.";

    private static string QuotaRefusal(long size, long used, long quota) =>
        $"Image storage: this upload needs {Mib(size)}, you use {Mib(used)} of {Mib(quota)}.";

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):0.#} MiB";

    private static void Check(string? problem, string field, int status = StatusCodes.Status400BadRequest)
    {
        if (problem is not null)
        {
            throw new ImageRequestException(problem, field, status);
        }
    }
}
