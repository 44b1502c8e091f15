using Marten;
using Paddock.Portal.Features.Images;

namespace Paddock.Portal.Features.Vms;

/// <summary>The VMs' use of library files, for the image library below them.</summary>
public sealed class VmImageUse : IVmImageUse
{
    public Task<int> CountAsync(IQuerySession session, string fileName, CancellationToken ct = default) =>
        session.Query<Vm>().Where(v => v.BaseImage == fileName || v.Cdrom == fileName).CountAsync(ct);

    public Task<bool> NeededOnAsync(IQuerySession session, Guid hostId, string fileName, CancellationToken ct = default) =>
        HostImageNeeds.NeedsAsync(session, hostId, fileName, ct);
}
