using Marten;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// How long a host counts as present: the portal process that holds its agent's connection renews
/// it every third of the grace period; when the agent leaves, it runs the grace from then. A portal
/// that dies renews nothing, so its hosts turn Unreachable on whichever portal looks next, though
/// their records still say Connected. Apart from <see cref="HostRecord"/> (not version-checked): a
/// renewal never collides with the record's writers. Times are the database's clock.
/// </summary>
public sealed class HostLease
{
    /// <summary>The host's id.</summary>
    public Guid Id { get; set; }

    public DateTimeOffset Until { get; set; }

    /// <summary>Renews (or starts) the leases of <paramref name="hostIds"/> in <paramref name="session"/>: saved with it.</summary>
    public static void Renew(IDocumentSession session, IEnumerable<Guid> hostIds, DateTimeOffset now, TimeSpan grace) =>
        session.Store([.. hostIds.Select(id => new HostLease { Id = id, Until = now + grace })]);

    /// <summary>
    /// When the host counts as away: its lease's end, or for a host with none (enrolled, never
    /// registered) a grace after it was last seen or enrolled.
    /// </summary>
    public static DateTimeOffset EndOf(HostRecord host, HostLease? lease, TimeSpan grace) =>
        lease?.Until ?? (host.EnrolledAt is { } enrolled && enrolled > host.LastSeenAt ? enrolled : host.LastSeenAt) + grace;

    public static bool Expired(HostRecord host, HostLease? lease, DateTimeOffset now, TimeSpan grace) => EndOf(host, lease, grace) <= now;
}
