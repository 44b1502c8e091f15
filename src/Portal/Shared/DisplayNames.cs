namespace Paddock.Portal.Shared;

/// <summary>The rule every name a person gives (VMs, templates, groups) follows; it never reaches a host.</summary>
public static class DisplayNames
{
    /// <summary>Null when <paramref name="name"/>, trimmed, is 1 to <paramref name="maxLength"/> characters without control characters; otherwise why not.</summary>
    public static string? Problem(string? name, int maxLength, string field = "Name")
    {
        var trimmed = name?.Trim() ?? "";
        return trimmed.Length switch
        {
            0 => $"{field}: required.",
            _ when trimmed.Length > maxLength => $"{field}: at most {maxLength} characters.",
            _ => trimmed.Any(char.IsControl) ? $"{field}: no control characters." : null,
        };
    }
}
