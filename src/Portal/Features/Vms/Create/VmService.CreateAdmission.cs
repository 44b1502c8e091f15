using Marten;
using Paddock.Portal.Features.Networks;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Templates;

namespace Paddock.Portal.Features.Vms;

/// <summary>Admitting a new VM: a name of its own, room in the quotas, a template that is still there, and a host.</summary>
public sealed partial class VmService
{
    /// <summary>Admits <paramref name="creation"/> in <paramref name="session"/>'s transaction and places it: the host it goes to, and why the others were passed over.</summary>
    private async Task<PlacementDecision> AdmitCreateAsync(IDocumentSession session, VmCreation creation, CancellationToken ct)
    {
        var (owner, d, cloneOf) = (creation.Owner, creation.Definition, creation.CloneOf);
        if (await session.Query<Vm>().AnyAsync(v => v.OwnerId == owner && v.Name == d.Name, ct))
        {
            throw NameTaken(d.Name);
        }

        await quotas.AdmitAsync(session, owner, d.GroupId, QuotaUsage.OneVm(d.VCpus, d.MemoryMiB, d.DiskBytes), ct, creation.RaiseQuota ? creation.Actor : null, creation.Reason);

        // Creates from one template take its lock shared, so they do not wait for each other; a
        // delete takes it alone, so it counts the linked clones only once the creates under way
        // have ended, and the creates after it find the template marked deleting.
        if (d.TemplateId is { } templateId)
        {
            await TransactionLocks.TakeSharedAsync(session, TransactionLocks.Template, templateId, ct);
            var template = await session.LoadAsync<VmTemplate>(templateId, ct);
            if (template is not { State: TemplateState.Ready })
            {
                throw new RefusedException($"Template: '{d.TemplateName}' is {(template is null ? "gone" : "not ready")}.", "template");
            }
        }

        // Templates and images come from the library, which every host can fetch from: any host
        // can take the VM under its policy. A clone's disks are on its source's host.
        // The built-in template's image is installed with each host, not fetched from the library.
        var installed = cloneOf is null && d.BaseImage == options.Value.Template.Image ? d.BaseImage : null;
        return await PlacementService.PlaceAsync(
            session, new Resources(d.VCpus, d.MemoryMiB, QuotaUsage.MiB(d.DiskBytes)), cloneOf?.HostId, clock, ct, d.Accelerator, installed, tenantNetworks: NicChoice.AnyOnNetwork(d.Nics),
            view: placementView);
    }
}
