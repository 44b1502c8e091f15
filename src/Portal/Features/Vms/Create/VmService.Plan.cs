using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using JasperFx;
using Marten.Exceptions;
using Microsoft.Extensions.Options;
using Npgsql;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Flavors;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Networks;
using static Paddock.Portal.Shared.VmSizes;


namespace Paddock.Portal.Features.Vms;

/// <summary>Planning a VM: checking what people ask for and working out the VM, its sizes, group and lease.</summary>
public sealed partial class VmService
{
    public static string? ValidateName(string? name) => DisplayNames.Problem(name, MaxNameLength);

    /// <summary>The disk may grow beyond the template's (the guest sees a bigger disk), never shrink below it.</summary>
    public static string? ValidateDisk(int diskMiB, long templateBytes)
    {
        var min = (int)Math.Ceiling(templateBytes / (1024.0 * 1024));
        return diskMiB < min || diskMiB > MaxDiskMiB ? $"Disk: between {min} MiB (the template's disk) and {MaxDiskMiB} MiB." : null;
    }

    /// <summary>The longest lease anyone may ask for.</summary>
    public static readonly TimeSpan MaxLease = TimeSpan.FromDays(3650);

    /// <summary>
    /// Checks <paramref name="newVm"/> as <paramref name="user"/> would make it and works out the
    /// VM: its source, sizes (a flavor's, or the person's own where the policy allows), group and
    /// lease, and what of it needs an admin's approval. Bad input is refused with the field at fault.
    /// </summary>
    public async Task<VmPlan> PlanAsync(ClaimsPrincipal user, NewVm newVm, CancellationToken ct = default)
    {
        Check(ValidateName(newVm.Name), "name");
        await using var session = store.QuerySession();
        var notes = new PlanNotes();
        var flavor = await FlavorOfAsync(session, user, newVm, notes, ct);
        var (vcpus, memoryMiB, diskMiB) = flavor is null ? (newVm.VCpus, newVm.MemoryMiB, newVm.DiskMiB) : (flavor.VCpus, flavor.MemoryMiB, flavor.DiskMiB);
        Check(ValidateVCpus(vcpus), "vcpus");
        Check(ValidateMemory(memoryMiB), "memory");
        var sized = new VmDefinition(newVm.Name.Trim(), "", "", vcpus, memoryMiB, 0);
        Check(newVm.ImageId is not null && newVm.Guest is not null ? "Guest setup: only for a template whose guests read cloud-init." : null, "guest");
        var definition = newVm.ImageId is { } imageId
            ? await FromImageAsync(session, user, imageId, sized, diskMiB, ct)
            : await FromTemplateAsync(session, user, newVm, sized, diskMiB, notes, ct);
        var lease = await LeaseOfAsync(session, user, newVm, notes, ct);
        return new VmPlan(definition with
        {
            FlavorId = flavor?.Id, FlavorName = flavor?.Name, GroupId = newVm.GroupId, Lease = lease, Start = newVm.Start, Limits = flavor?.Limits,
            Accelerator = flavor?.RequiredAccelerator, Nics = await NicsOfAsync(session, user, newVm.Nics, ct),
        }, notes.Needs);
    }

    /// <summary>Where the NICs go: 1 to the most a VM may have, each on a network the caller may use, the default network or isolated.</summary>
    /// <remarks>A refusal about one NIC names its field (<c>nics[1]</c>); about the list, <c>nics</c>.</remarks>
    private static async Task<IReadOnlyList<NicChoice>> NicsOfAsync(IQuerySession session, ClaimsPrincipal user, IReadOnlyList<NicChoice>? nics, CancellationToken ct)
    {
        if (nics is null)
        {
            return [NicChoice.Default];
        }

        if (nics.Count is < 1 or > VmSpecValidator.MaxNics || nics.Contains(null!))
        {
            throw new RefusedException($"NICs: 1 to {VmSpecValidator.MaxNics}, each a network (none for your default network) or isolated.", "nics");
        }

        var usable = (await NetworkService.UsableAsync(session, user.UserId(), ct)).Select(n => n.Id).ToHashSet();
        for (var i = 0; i < nics.Count; i++)
        {
            Check(nics[i].Isolated && nics[i].NetworkId is not null ? "Network: a network or isolated, not both." : null, NicChoice.FieldOf(i));
            Check(nics[i].NetworkId is { } id && !usable.Contains(id) ? "Network: no such network." : null, NicChoice.FieldOf(i));
        }

        return nics;
    }

    /// <summary>What a plan found on its way: what needs an admin's approval, and the maximum leases that apply (and why).</summary>
    private sealed class PlanNotes
    {
        public List<string> Needs { get; } = [];

        public List<(TimeSpan Max, string Why)> MaxLeases { get; } = [];
    }

    /// <summary>The flavor asked for, when the caller may use it; null for sizes of their own, where the policy offers them.</summary>
    private static async Task<Flavor?> FlavorOfAsync(IQuerySession session, ClaimsPrincipal user, NewVm newVm, PlanNotes notes, CancellationToken ct)
    {
        if (newVm.FlavorId is not { } flavorId)
        {
            return user.IsAdmin() || (await PolicyService.GetAsync(session, ct)).CustomSizes
                ? null
                : throw new RefusedException("Flavor: choose one of the flavors; sizes of your own are not offered here.", "flavor");
        }

        var flavor = await session.LoadAsync<Flavor>(flavorId, ct);
        if (flavor is null || !FlavorService.MayUse(flavor, user, await GroupService.GroupsOfAsync(session, user.UserId(), ct)))
        {
            throw new RefusedException("Flavor: no such flavor.", "flavor");
        }

        if (flavor.NeedsApproval)
        {
            notes.Needs.Add($"Flavor '{flavor.Name}' needs an admin's approval.");
        }

        if (flavor.MaxLease is { } max)
        {
            notes.MaxLeases.Add((max, $"flavor '{flavor.Name}'"));
        }

        return flavor;
    }

    /// <summary>A VM from the image library: a blank disk with the ISO in its CD-ROM drive, or a linked clone of a disk image.</summary>
    private static async Task<VmDefinition> FromImageAsync(IQuerySession session, ClaimsPrincipal user, Guid imageId, VmDefinition sized, int? diskMiB, CancellationToken ct)
    {
        var image = await ImageService.FindAsync(session, user, imageId, ct) ?? throw new RefusedException("Image: no such image.", "image");
        if (image.Kind == ImageKind.Iso)
        {
            var blankMiB = diskMiB ?? throw new RefusedException("Disk: give the size of the blank disk to install onto.", "disk");
            Check(ValidateDisk(blankMiB, 1024 * 1024), "disk");
            return sized with { TemplateName = $"ISO {image.Name}", DiskBytes = blankMiB * 1024L * 1024, Cdrom = (image.FileName, image.Name) };
        }

        // The overlay's size is whole 512-byte sectors, and never smaller than the image.
        var minimum = (image.VirtualSize + 511) / 512 * 512;
        var diskBytes = minimum;
        if (diskMiB is { } asked)
        {
            Check(ValidateDisk(asked, minimum), "disk");
            diskBytes = Math.Max(minimum, asked * 1024L * 1024);
        }

        return sized with { TemplateName = $"Image {image.Name}", BaseImage = image.FileName, DiskBytes = diskBytes };
    }

    /// <summary>A linked clone of a template the caller may see (the built-in one when none is named).</summary>
    private static async Task<VmDefinition> FromTemplateAsync(
        IQuerySession session, ClaimsPrincipal user, NewVm newVm, VmDefinition sized, int? diskMiB, PlanNotes notes, CancellationToken ct)
    {
        var template = await TemplateService.FindAsync(session, user, newVm.TemplateId ?? TemplateService.BuiltinId, ct)
            ?? throw new RefusedException("Template: no such template.", "template");
        var diskBytes = template.DiskBytes;
        if (diskMiB is { } asked)
        {
            Check(ValidateDisk(asked, template.DiskBytes), "disk");
            diskBytes = Math.Max(template.DiskBytes, asked * 1024L * 1024);
        }

        if (template.NeedsApproval)
        {
            notes.Needs.Add($"Template '{template.Name}' needs an admin's approval.");
        }

        if (template.MaxLease is { } max)
        {
            notes.MaxLeases.Add((max, $"template '{template.Name}'"));
        }

        return sized with
        {
            TemplateName = template.Name, BaseImage = template.Image, DiskBytes = diskBytes, TemplateId = template.Id,
            CloudInit = await CloudInitOfAsync(session, user, template, newVm, ct), GuestAgent = template.GuestAgent,
        };
    }

    /// <summary>
    /// The guest's cloud-init setup: what was asked for (or the VM's name as its hostname), with the
    /// caller's own profile keys it picks, where the template's guests read it; refused elsewhere.
    /// </summary>
    private static async Task<Paddock.Engine.Guests.CloudInitConfig?> CloudInitOfAsync(
        IQuerySession session, ClaimsPrincipal user, VmTemplate template, NewVm newVm, CancellationToken ct)
    {
        if (!template.CloudInit)
        {
            Check(newVm.Guest is null ? null : $"Guest setup: '{template.Name}' does not read cloud-init; leave it out.", "guest");
            return null;
        }

        var guest = newVm.Guest ?? new GuestSetup();
        var picked = await SshKeys.SshKeyService.PublicKeysAsync(session, user, guest.SshKeyIds ?? [], GuestSetup.FieldOf("sshKeyIds"), ct);
        return guest.ToConfig(newVm.Name, picked);
    }

    /// <summary>
    /// The lease the VM gets: the one asked for, or the longest allowed where a maximum applies (the
    /// group's, the caller's quota, the flavor's or template's); one beyond it needs an admin's approval.
    /// </summary>
    private static async Task<TimeSpan?> LeaseOfAsync(IQuerySession session, ClaimsPrincipal user, NewVm newVm, PlanNotes notes, CancellationToken ct)
    {
        if (newVm.GroupId is { } groupId)
        {
            if (!(await GroupService.GroupsOfAsync(session, user.UserId(), ct)).Contains(groupId))
            {
                throw new RefusedException("Group: one of the groups you are in.", "group");
            }

            if ((await QuotaService.EffectiveAsync(session, groupId, group: true, ct)).MaxLease is { } max)
            {
                notes.MaxLeases.Add((max, $"group '{(await session.LoadAsync<Group>(groupId, ct))?.Name}'"));
            }
        }

        if ((await QuotaService.EffectiveAsync(session, user.UserId(), group: false, ct)).MaxLease is { } userMax)
        {
            notes.MaxLeases.Add((userMax, "your quota"));
        }

        TimeSpan? lease = newVm.LeaseMinutes is { } minutes ? TimeSpan.FromMinutes(minutes) : null;
        if (lease is { } asked && (asked < TimeSpan.FromMinutes(1) || asked > MaxLease))
        {
            throw new RefusedException("Lease: between 1 minute and 10 years, or none.", "lease");
        }

        if (notes.MaxLeases.Count == 0)
        {
            return lease;
        }

        var (longest, why) = notes.MaxLeases.MinBy(m => m.Max);
        if (lease > longest)
        {
            notes.Needs.Add($"Lease: {Durations.Describe(lease.Value)} asked, at most {Durations.Describe(longest)} for {why}.");
        }

        // Where a maximum applies, a VM gets the longest lease allowed unless it asks for less.
        return lease ?? longest;
    }
}
