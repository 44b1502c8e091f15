namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// Holds something live with a host (its agent's connection, console sessions relayed through it):
/// ended at once when an admin revokes the host. Agents and Console implement it.
/// </summary>
public interface IHostLinks
{
    void EndHost(Guid hostId);
}

/// <summary>
/// Ends this process's links with a revoked host, whichever portal process the revocation was made
/// through (the notice reaches every process, this one included).
/// </summary>
public sealed class RevokedHostLinks(ChangeNotifier<HostRevoked> revocations, IEnumerable<IHostLinks> links) : ChangeFollower<HostRevoked>(revocations)
{
    protected override Task OnChangeAsync(HostRevoked change)
    {
        foreach (var link in links)
        {
            link.EndHost(change.HostId);
        }

        return Task.CompletedTask;
    }
}
