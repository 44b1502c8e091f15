using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Templates;

/// <summary>A linked clone as a refusal may name it: its owner's other VMs stay unnamed to anyone else.</summary>
public sealed record LinkedClone(Guid VmId, string Name, Guid OwnerId);

/// <summary>Who may see and change a template, and when it may go: small pure functions.</summary>
public static class TemplateRules
{
    public const int MaxNameLength = 64;
    public const int MaxDescriptionLength = 500;

    public static bool MaySee(VmTemplate template, Guid userId, bool isAdmin, IReadOnlyCollection<Guid> groups) =>
        isAdmin || template.OwnerId == userId
        || (template.State == TemplateState.Ready || template.State == TemplateState.Building && template.IsBuiltin)
        && SharingRules.MaySee(template.OwnerId, template.Visibility, template.GroupId, userId, isAdmin, groups);

    /// <summary>Edit and delete: its owner or an admin; nobody changes the built-in one.</summary>
    public static bool MayManage(VmTemplate template, Guid userId, bool isAdmin) =>
        !template.IsBuiltin && (isAdmin || template.OwnerId == userId);

    /// <summary>Null when the template can be deleted now, otherwise why not, naming its linked clones as far as the caller may see them.</summary>
    public static string? DeleteRefusal(VmTemplate template, IReadOnlyList<LinkedClone> clones, Guid userId, bool isAdmin)
    {
        if (template.IsBuiltin)
        {
            return "The built-in template cannot be deleted.";
        }

        if (template.State != TemplateState.Ready)
        {
            return $"'{template.Name}' is {(template.State is TemplateState.Converting or TemplateState.Building ? "still being created" : "being deleted")}; wait for it to finish.";
        }

        if (clones.Count == 0)
        {
            return null;
        }

        var named = clones.Where(c => isAdmin || c.OwnerId == userId).Select(c => $"'{c.Name}'").ToList();
        var others = clones.Count - named.Count;
        var which = string.Join(", ", others == 0 ? named : [.. named, $"{others} of other users"]);
        return $"'{template.Name}' has {clones.Count} linked clone{(clones.Count == 1 ? "" : "s")} ({which}); "
            + "their disks are overlays of its image. Delete them first.";
    }

    public static string? ValidateName(string? name) => DisplayNames.Problem(name, MaxNameLength);

    public static string? ValidateDescription(string? description) =>
        (description ?? "").Length > MaxDescriptionLength
            ? $"Description: at most {MaxDescriptionLength} characters."
            : (description ?? "").Any(c => char.IsControl(c) && c is not ('\n' or '\r'))
                ? "Description: no control characters."
                : null;

    public static string? ValidateVisibility(Sharing visibility, Guid? groupId) => SharingRules.Validate(visibility, groupId);
}
