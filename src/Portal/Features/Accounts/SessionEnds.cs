namespace Paddock.Portal.Features.Accounts;

/// <summary>
/// Holds sessions of its own for signed-in accounts, beyond their cookies and circuits (the consoles
/// do): told when an account's earlier sessions end in this process, so that its own end at once.
/// </summary>
public interface ISessionHolder
{
    void EndFor(Guid userId);
}

/// <summary>Published to live pages when an account changed.</summary>
public sealed record UsersChanged;

/// <summary>
/// Ends an account's earlier sessions after a change that makes them wrong (a password, a role,
/// disabling, deleting): here at once, in other portal processes within <see cref="UserSessions.CacheFor"/>.
/// </summary>
public sealed class SessionEnds(UserSessions sessions, IEnumerable<ISessionHolder> holders, ChangeNotifier<UsersChanged> changes)
{
    public void EndFor(Guid userId)
    {
        sessions.Forget(userId);
        foreach (var holder in holders)
        {
            holder.EndFor(userId);
        }

        changes.Publish(new UsersChanged());
    }
}
