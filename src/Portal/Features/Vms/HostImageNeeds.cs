using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// Which library images a host may fetch: those its VMs need and nothing else, so that a host (or
/// whoever holds its credential) cannot read other people's images. The built-in template's image
/// is installed with each host and never fetched.
/// </summary>
public static class HostImageNeeds
{
    /// <summary>
    /// Whether a VM placed on the host uses <paramref name="fileName"/>: as its disk's base (a VM
    /// being created there included, its document exists from the start), as the ISO in its CD-ROM
    /// drive, or as the ISO an unfinished Change CD is putting there.
    /// </summary>
    public static bool Needs(IEnumerable<Vm> vmsOnHost, IEnumerable<AgentCommand> unfinishedOnHost, string fileName) =>
        vmsOnHost.Any(v => v.BaseImage == fileName || v.Cdrom == fileName)
        || unfinishedOnHost.Any(c => c is { Finished: false, Command: { Verb: VmVerb.ChangeMedium, Image: { } image } } && image == fileName);

    public static async Task<bool> NeedsAsync(IQuerySession session, Guid hostId, string fileName, CancellationToken ct = default)
    {
        var vms = await session.Query<Vm>().Where(v => v.HostId == hostId).ToListAsync(ct);
        var unfinished = await session.Query<AgentCommand>()
            .Where(c => c.HostId == hostId && (c.State == AgentCommandState.Pending || c.State == AgentCommandState.Sent))
            .ToListAsync(ct);
        return Needs(vms, unfinished, fileName);
    }
}
