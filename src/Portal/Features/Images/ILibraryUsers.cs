using Marten;

namespace Paddock.Portal.Features.Images;

/// <summary>
/// What VMs use of the library (their disks' bases, their CDs): a file a VM uses is not deleted, and
/// a host may fetch only what its VMs need. Vms implements it, as Images stands below the VMs.
/// </summary>
public interface IVmImageUse
{
    /// <summary>How many VMs use <paramref name="fileName"/> as their disk's base or in their CD drive.</summary>
    Task<int> CountAsync(IQuerySession session, string fileName, CancellationToken ct = default);

    /// <summary>Whether a VM placed on <paramref name="hostId"/> needs <paramref name="fileName"/>, now or for a change under way.</summary>
    Task<bool> NeededOnAsync(IQuerySession session, Guid hostId, string fileName, CancellationToken ct = default);
}

/// <summary>
/// Templates keep their images in the library too: a file a template names stays, and hosts may
/// fetch it. Templates implements it, as Images stands below them.
/// </summary>
public interface ITemplateImages
{
    Task<bool> NamesAsync(IQuerySession session, string fileName, CancellationToken ct = default);
}
