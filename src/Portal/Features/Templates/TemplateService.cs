using System.Security.Claims;
using JasperFx;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;

namespace Paddock.Portal.Features.Templates;

/// <summary>A template with what a list shows beside it.</summary>
public sealed record TemplateSummary(VmTemplate Template, string OwnerName, string? GroupName, int LinkedClones);

/// <summary>What an owner may change of a template.</summary>
public sealed record TemplateEdit(string Name, string Description, int VCpus, int MemoryMiB);

/// <summary>The template does not exist or is not the caller's to see: the same answer for both.</summary>
public sealed class TemplateNotFoundException() : Exception("No such template.");

/// <summary>Decides about templates: edit, publish, delete (a VM becomes one through the Vms feature's <c>TemplateConversion</c>).</summary>
public sealed class TemplateService(
    IDocumentStore store,
    IOptions<PortalOptions> options,
    ImageService images,
    ILinkedClones linkedClones,
    ChangeNotifier<TemplateChanged> changes,
    TimeProvider clock)
{
    public static readonly Guid BuiltinId = VmTemplate.BuiltinId;

    /// <summary>The template when the caller may see it, otherwise null.</summary>
    public static async Task<VmTemplate?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        var template = await session.LoadAsync<VmTemplate>(id, ct);
        return template is not null && TemplateRules.MaySee(template, user.UserId(), user.IsAdmin(), await GroupService.GroupsOfAsync(session, user.UserId(), ct))
            ? template
            : null;
    }

    /// <summary>Every template the caller may see, the built-in one first, with owners, groups and linked-clone counts.</summary>
    public async Task<IReadOnlyList<TemplateSummary>> ListAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var groups = await GroupService.GroupsOfAsync(session, user.UserId(), ct);
        var all = await session.Query<VmTemplate>().ToListAsync(ct);
        var visible = all.Where(t => TemplateRules.MaySee(t, user.UserId(), user.IsAdmin(), groups)).ToList();
        // Counted in full for the template's owner and admins; anyone else counts only their own VMs.
        var clones = await linkedClones.AllAsync(session, ct);
        int Count(VmTemplate t) =>
            clones[t.Id].Count(v => user.IsAdmin() || t.OwnerId == user.UserId() || v.OwnerId == user.UserId());
        var owners = (await session.LoadManyAsync<PortalUser>(ct, visible.Select(t => t.OwnerId).Distinct())).ToDictionary(u => u.Id, u => u.UserName);
        var groupNames = (await session.Query<Group>().ToListAsync(ct)).ToDictionary(g => g.Id, g => g.Name);
        return [.. visible
            .OrderByDescending(t => t.IsBuiltin).ThenBy(t => t.Name)
            .Select(t => new TemplateSummary(
                t,
                t.OwnerId == VmTemplate.System ? "Paddock" : owners.GetValueOrDefault(t.OwnerId, "(removed user)"),
                t.GroupId is { } g ? groupNames.GetValueOrDefault(g) : null,
                Count(t)))];
    }

    /// <summary>Makes sure the built-in template exists and matches the settings (its image is on every host).</summary>
    public async Task EnsureBuiltinAsync(CancellationToken ct = default)
    {
        var builtin = options.Value.Template;
        await using var session = store.LightweightSession();
        var template = await session.LoadAsync<VmTemplate>(BuiltinId, ct) ?? new VmTemplate
        {
            Id = BuiltinId,
            OwnerId = VmTemplate.System,
            Visibility = Sharing.Everyone,
            VCpus = 1,
            MemoryMiB = 256,
            CreatedAt = clock.GetUtcNow(),
        };
        template.Name = builtin.Name;
        template.Description = "A Linux kernel and a busybox shell on the serial console and the screen; boots in seconds.";
        template.Image = builtin.Image;
        template.DiskBytes = builtin.DiskBytes;
        template.State = TemplateState.Ready;
        session.Store(template);
        await session.SaveChangesAsync(ct);
    }

    public static string? ValidateEdit(TemplateEdit edit) =>
        TemplateRules.ValidateName(edit.Name) ?? TemplateRules.ValidateDescription(edit.Description)
        ?? VmSizes.ValidateVCpus(edit.VCpus) ?? VmSizes.ValidateMemory(edit.MemoryMiB);

    /// <summary>Changes the name, description and default sizes (owner or admin).</summary>
    public Task UpdateAsync(ClaimsPrincipal user, Guid id, TemplateEdit edit, CancellationToken ct = default)
    {
        Check(TemplateRules.ValidateName(edit.Name), "name");
        Check(TemplateRules.ValidateDescription(edit.Description), "description");
        Check(VmSizes.ValidateVCpus(edit.VCpus), "vcpus");
        Check(VmSizes.ValidateMemory(edit.MemoryMiB), "memory");
        return ChangeAsync(user, id, manage: true, template =>
        {
            template.Name = edit.Name.Trim();
            template.Description = edit.Description.Trim();
            template.VCpus = edit.VCpus;
            template.MemoryMiB = edit.MemoryMiB;
        }, ct);
    }

    /// <summary>Admins publish a template to everyone or to one group, or take it back to its owner alone.</summary>
    public async Task PublishAsync(ClaimsPrincipal user, Guid id, Sharing visibility, Guid? groupId, CancellationToken ct = default)
    {
        if (!user.IsAdmin())
        {
            // Members cannot publish; to them this is a template like any other they may not change.
            throw new TemplateRequestException("Only admins publish templates.");
        }

        Check(TemplateRules.ValidateVisibility(visibility, groupId), "visibility");
        await using (var query = store.QuerySession())
        {
            if (visibility == Sharing.Group && await query.LoadAsync<Group>(groupId!.Value, ct) is null)
            {
                throw new TemplateRequestException("Group: no such group.", "group");
            }
        }

        await ChangeAsync(user, id, manage: false, template =>
        {
            if (template.IsBuiltin)
            {
                throw new TemplateRequestException("The built-in template is always published to everyone.");
            }

            template.Visibility = visibility;
            template.GroupId = visibility == Sharing.Group ? groupId : null;
        }, ct);
    }

    /// <summary>Admins mark a template as needing approval (a member's VM from it becomes a request) and set the longest lease of its VMs.</summary>
    public async Task SetApprovalAsync(ClaimsPrincipal user, Guid id, bool needsApproval, TimeSpan? maxLease, CancellationToken ct = default)
    {
        if (!user.IsAdmin())
        {
            throw new TemplateRequestException("Only admins decide which templates need approval.");
        }

        if (maxLease is { } lease && (lease < TimeSpan.FromMinutes(1) || lease > TimeSpan.FromDays(3650)))
        {
            throw new TemplateRequestException("Longest lease: between 1 minute and 10 years, or empty for no maximum.", "lease");
        }

        await ChangeAsync(user, id, manage: false, template =>
        {
            template.NeedsApproval = needsApproval;
            template.MaxLease = maxLease;
        }, ct);
    }

    /// <summary>
    /// Deletes the template and its image from the library, refused while linked clones exist. It
    /// takes the template's lock alone, which creates from it take shared: the creates under way end
    /// first (and their VMs are counted), and those after it find the template marked deleting, so
    /// no overlay loses its base.
    /// </summary>
    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        await TransactionLocks.TakeAsync(session, TransactionLocks.Template, id, ct);
        var template = await FindAsync(session, user, id, ct) ?? throw new TemplateNotFoundException();
        if (!TemplateRules.MayManage(template, user.UserId(), user.IsAdmin()) && !template.IsBuiltin)
        {
            throw new TemplateRequestException($"Only the owner of '{template.Name}' or an admin may delete it.");
        }

        var clones = await linkedClones.OfAsync(session, id, ct);
        if (TemplateRules.DeleteRefusal(template, clones, user.UserId(), user.IsAdmin()) is { } refusal)
        {
            throw new TemplateRequestException(refusal);
        }

        // First the mark, version-checked; then nothing can be made from it any more and it can go.
        template.State = TemplateState.Deleting;
        session.Store(template);
        await SaveAsync(session, ct);
        session.Delete(template);
        await session.SaveChangesAsync(ct);
        await images.ForgetIfUnusedAsync(template.Image, ct);
        changes.Publish(new TemplateChanged(id));
    }

    private async Task ChangeAsync(ClaimsPrincipal user, Guid id, bool manage, Action<VmTemplate> change, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var template = await FindAsync(session, user, id, ct) ?? throw new TemplateNotFoundException();
        if (manage && !TemplateRules.MayManage(template, user.UserId(), user.IsAdmin()))
        {
            throw new TemplateRequestException(template.IsBuiltin
                ? "The built-in template cannot be changed."
                : $"Only the owner of '{template.Name}' or an admin may change it.");
        }

        change(template);
        session.Store(template);
        await SaveAsync(session, ct);
        changes.Publish(new TemplateChanged(id));
    }

    /// <summary>Saves, answering a write that came in between (a version check) with a refusal to retry.</summary>
    public static async Task SaveAsync(IDocumentSession session, CancellationToken ct)
    {
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new TemplateRequestException("The template or VM changed meanwhile; look again and retry.");
        }
    }

    /// <summary>Refuses <paramref name="problem"/>, if there is one, naming <paramref name="field"/>.</summary>
    public static void Check(string? problem, string field)
    {
        if (problem is not null)
        {
            throw new TemplateRequestException(problem, field);
        }
    }
}

/// <summary>A template request that cannot be carried out; <see cref="Field"/> names the input at fault, if one is.</summary>
public sealed class TemplateRequestException(string message, string? field = null) : Exception(message)
{
    public string? Field { get; } = field;
}
