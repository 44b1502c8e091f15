using Marten;

namespace Paddock.Portal.Features.Templates;

/// <summary>
/// The VMs whose disks are overlays on a template's image (its linked clones): a template shows how
/// many it has, and is not deleted while it has any. Vms implements it, as Templates stands below the VMs.
/// </summary>
public interface ILinkedClones
{
    /// <summary>Every linked clone, by the template it was made from.</summary>
    Task<ILookup<Guid, LinkedClone>> AllAsync(IQuerySession session, CancellationToken ct = default);

    /// <summary>The linked clones of <paramref name="templateId"/>, by name.</summary>
    Task<IReadOnlyList<LinkedClone>> OfAsync(IQuerySession session, Guid templateId, CancellationToken ct = default);
}
