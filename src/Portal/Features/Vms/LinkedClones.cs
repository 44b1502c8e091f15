using Marten;
using Paddock.Portal.Features.Templates;

namespace Paddock.Portal.Features.Vms;

/// <summary>The VMs made from templates (linked clones of their images), for the templates below them.</summary>
public sealed class LinkedClones : ILinkedClones
{
    public async Task<ILookup<Guid, LinkedClone>> AllAsync(IQuerySession session, CancellationToken ct = default) =>
        (await session.Query<Vm>().Where(v => v.TemplateId != null).ToListAsync(ct)).ToLookup(v => v.TemplateId!.Value, Of);

    public async Task<IReadOnlyList<LinkedClone>> OfAsync(IQuerySession session, Guid templateId, CancellationToken ct = default) =>
        [.. (await session.Query<Vm>().Where(v => v.TemplateId == templateId).OrderBy(v => v.Name).ToListAsync(ct)).Select(Of)];

    private static LinkedClone Of(Vm vm) => new(vm.Id, vm.Name, vm.OwnerId);
}
