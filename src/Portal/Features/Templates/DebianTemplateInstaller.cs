using System.Security.Cryptography;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;

namespace Paddock.Portal.Features.Templates;

/// <summary>
/// The built-in "Debian 12 (cloud)" template (<see cref="DebianTemplateOptions"/>): there from the
/// first start, as building; once the build script has written the image and its checksum file,
/// the image is checked against that checksum, copied into the library under its checksum's name
/// (where hosts fetch it, as they fetch a converted template's) and the template becomes ready.
/// </summary>
public sealed class DebianTemplateInstaller(
    IDocumentStore store,
    IOptions<PortalOptions> options,
    ImageService images,
    ChangeNotifier<TemplateChanged> changes,
    TimeProvider clock,
    ILogger<DebianTemplateInstaller> log) : BackgroundService
{
    /// <summary>How often the portal looks for the image while the template is building.</summary>
    public static readonly TimeSpan LookEvery = TimeSpan.FromSeconds(3);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value.DebianTemplate;
        if (string.IsNullOrEmpty(settings.ImagePath))
        {
            return;
        }

        try
        {
            if (await EnsureRecordAsync(settings, stoppingToken))
            {
                return;
            }

            using var timer = new PeriodicTimer(LookEvery, clock);
            while (!await TryInstallAsync(settings, stoppingToken))
            {
                await timer.WaitForNextTickAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Makes the template's record if there is none; true when it is ready already.</summary>
    private async Task<bool> EnsureRecordAsync(DebianTemplateOptions settings, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var template = await session.LoadAsync<VmTemplate>(VmTemplate.DebianId, ct) ?? new VmTemplate
        {
            Id = VmTemplate.DebianId,
            OwnerId = VmTemplate.System,
            Visibility = Sharing.Everyone,
            VCpus = 1,
            State = TemplateState.Building,
            CreatedAt = clock.GetUtcNow(),
        };
        template.Name = settings.Name;
        template.Description = "Debian 12 with systemd, cloud-init, the QEMU guest agent and OpenSSH: "
            + "give it a user and SSH keys at create, log in over SSH.";
        template.MemoryMiB = settings.MemoryMiB;
        template.DiskBytes = settings.DiskBytes;
        template.CloudInit = true;
        template.GuestAgent = true;
        session.Store(template);
        await session.SaveChangesAsync(ct);
        return template.State == TemplateState.Ready;
    }

    /// <summary>Installs the image when the build has finished; false while it has not.</summary>
    private async Task<bool> TryInstallAsync(DebianTemplateOptions settings, CancellationToken ct)
    {
        var imagePath = settings.ImagePath!;
        if (!File.Exists(imagePath + ".sha256") || !File.Exists(imagePath))
        {
            return false;
        }

        var expected = (await File.ReadAllTextAsync(imagePath + ".sha256", ct)).Split(' ', 2)[0].Trim();
        var fileName = $"{expected}.qcow2";
        var target = Path.Combine(images.LibraryDir, fileName);
        var bytes = await CopyCheckedAsync(imagePath, target, expected, ct);
        if (bytes is null)
        {
            return false;
        }

        await using var session = store.LightweightSession();
        var template = await session.LoadAsync<VmTemplate>(VmTemplate.DebianId, ct);
        if (template is null)
        {
            return false;
        }

        template.Image = fileName;
        template.Sha256 = expected;
        template.ImageBytes = bytes;
        template.State = TemplateState.Ready;
        template.LastError = null;
        session.Store(template);
        await session.SaveChangesAsync(ct);
        changes.Publish(new TemplateChanged(template.Id));
        log.LogInformation("The {Template} template is ready: {Bytes} bytes, SHA-256 {Sha256}", template.Name, bytes, expected);
        return true;
    }

    /// <summary>
    /// Copies the image into the library (a temporary name, then a rename) while hashing it; the
    /// copy's size, or null (and nothing left behind) when the hash is not the expected one, which
    /// a build still writing would give.
    /// </summary>
    private async Task<long?> CopyCheckedAsync(string source, string target, string expected, CancellationToken ct)
    {
        if (File.Exists(target))
        {
            return new FileInfo(target).Length;
        }

        var partial = target + ".partial";
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true))
        await using (var to = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
        {
            var buffer = new byte[1 << 20];
            int read;
            while ((read = await from.ReadAsync(buffer, ct)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await to.WriteAsync(buffer.AsMemory(0, read), ct);
            }
        }

        if (!string.Equals(Convert.ToHexStringLower(hash.GetHashAndReset()), expected, StringComparison.Ordinal))
        {
            File.Delete(partial);
            log.LogWarning("The Debian template's image at {Path} does not match its checksum file yet", source);
            return null;
        }

        File.Move(partial, target, overwrite: true);
        return new FileInfo(target).Length;
    }
}
