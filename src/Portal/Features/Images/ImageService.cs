using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;

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
public sealed partial class ImageService(
    IDocumentStore store, IOptions<PortalOptions> options, UploadReservations reservations, IVmImageUse vms, ITemplateImages templates,
    ChangeNotifier<ImagesChanged> changes, TimeProvider clock, ILogger<ImageService> log)
{
    public const int MaxNameLength = 64;

    private readonly IDocumentStore _store = store;
    private readonly UploadReservations _reservations = reservations;
    private readonly IVmImageUse _vms = vms;
    private readonly ITemplateImages _templates = templates;
    private readonly ChangeNotifier<ImagesChanged> _changes = changes;
    private readonly TimeProvider _clock = clock;
    private readonly ILogger<ImageService> _log = log;

    /// <summary>How qemu-img runs on uploads: as its own uid when the portal is root, always limited and off the network.</summary>
    private readonly QemuImgSandbox _sandbox = QemuImgSandbox.For(options.Value.Uploads.Uid, options.Value.Uploads.Gid, root: QemuImgSandbox.RunningAsRoot) with
    {
        AddressSpaceBytes = options.Value.Uploads.AddressSpaceMiB * 1024L * 1024,
        CpuSeconds = options.Value.Uploads.CpuSeconds,
    };

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

    /// <summary>Deletes the caller's image unless a VM still uses it (as its base or in its CD drive).</summary>
    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        await using var session = _store.LightweightSession();
        var image = await FindAsync(session, user, id, ct) ?? throw new ImageNotFoundException();
        if (image.OwnerId != user.UserId() && !user.IsAdmin())
        {
            throw new ImageRequestException($"Only the owner of '{image.Name}' or an admin may delete it.", status: StatusCodes.Status409Conflict);
        }

        var users = await _vms.CountAsync(session, image.FileName, ct);
        if (users > 0)
        {
            throw new ImageRequestException($"'{image.Name}' is used by {users} VM{(users == 1 ? "" : "s")} (as base disk or in the CD drive); eject it or delete them first.", status: StatusCodes.Status409Conflict);
        }

        session.Delete(image);
        await session.SaveChangesAsync(ct);
        // Another library entry or a template may share the file (the same bytes twice).
        await ForgetIfUnusedAsync(image.FileName, ct);

        _changes.Publish(new ImagesChanged());
    }

    /// <summary>Removes a library file that no image and no template names any more.</summary>
    public async Task ForgetIfUnusedAsync(string fileName, CancellationToken ct = default)
    {
        await using var session = _store.QuerySession();
        var used = await _templates.NamesAsync(session, fileName, ct)
            || (await session.Query<LibraryImage>().Where(i => i.Sha256 == Path.GetFileNameWithoutExtension(fileName)).ToListAsync(ct)).Any(i => i.FileName == fileName);
        if (!used && LibraryName().IsMatch(fileName))
        {
            File.Delete(Path.Combine(LibraryDir, fileName));
        }
    }

    /// <summary>Whether <paramref name="fileName"/> is a library file some image or template names (what agents may fetch).</summary>
    public async Task<bool> IsKnownAsync(string fileName, CancellationToken ct = default)
    {
        if (LibraryName().Match(fileName) is not { Success: true } match)
        {
            return false;
        }

        await using var session = _store.QuerySession();
        return await _templates.NamesAsync(session, fileName, ct)
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
        await using var session = _store.LightweightSession();
        var image = await FindAsync(session, user, id, ct) ?? throw new ImageNotFoundException();
        if (sharing == Sharing.Group && await session.LoadAsync<Group>(groupId!.Value, ct) is null)
        {
            throw new ImageRequestException("Group: no such group.", "group");
        }

        image.Visibility = sharing;
        image.GroupId = sharing == Sharing.Group ? groupId : null;
        session.Store(image);
        await session.SaveChangesAsync(ct);
        _changes.Publish(new ImagesChanged());
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
        await using var session = _store.LightweightSession();
        session.Store(new ImageSettings { MaxUploadMiB = maxUploadMiB, StoragePerUserMiB = storagePerUserMiB });
        await session.SaveChangesAsync(ct);
        _changes.Publish(new ImagesChanged());
    }

    private static string SizeRefusal(long size, long max) =>
        $"File: {Sizes.Mib(size)} is more than the upload limit of {Sizes.Mib(max)}.";

    private static void Check(string? problem, string field, int status = StatusCodes.Status400BadRequest)
    {
        if (problem is not null)
        {
            throw new ImageRequestException(problem, field, status);
        }
    }
}
