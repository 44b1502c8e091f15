namespace Paddock.Portal.Features.Groups;

/// <summary>A group of people (a project): templates can be published to it.</summary>
public sealed class Group
{
    public Guid Id { get; set; }

    public string Name { get; set; } = "";

    public List<Guid> MemberIds { get; set; } = [];

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>Published to live pages when a group or its members changed (admins change them: <c>GroupAdmin</c>).</summary>
public sealed record GroupsChanged;
