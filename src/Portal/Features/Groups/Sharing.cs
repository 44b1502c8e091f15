namespace Paddock.Portal.Features.Groups;

/// <summary>Who sees a shared thing (a template, an image) besides its owner and the admins.</summary>
public enum Sharing
{
    /// <summary>Its owner (and the admins) only.</summary>
    Private,
    /// <summary>The members of one group.</summary>
    Group,
    Everyone,
}

public static class SharingRules
{
    /// <summary>Whether a person sees a thing owned by <paramref name="ownerId"/> and shared as <paramref name="sharing"/>.</summary>
    public static bool MaySee(Guid ownerId, Sharing sharing, Guid? groupId, Guid userId, bool isAdmin, IReadOnlyCollection<Guid> groups) =>
        isAdmin || ownerId == userId || sharing switch
        {
            Sharing.Everyone => true,
            Sharing.Group => groupId is { } group && groups.Contains(group),
            _ => false,
        };

    public static string? Validate(Sharing sharing, Guid? groupId) => sharing switch
    {
        Sharing.Group when groupId is null => "Group: choose the group to share with.",
        _ when !Enum.IsDefined(sharing) => "Shared with: Private, Group or Everyone.",
        _ => null,
    };
}
