using System.Text.Json;

namespace Paddock.Engine.GuestAgent;

/// <summary>
/// Typed reads of a reply's members. A member of the wrong type is a
/// <see cref="GuestAgentProtocolException"/>; strings come back cleaned (<see cref="GuestAgentText.Clean"/>).
/// </summary>
internal static class GuestAgentMember
{
    internal static JsonElement Object(JsonElement value, string what) =>
        value.ValueKind == JsonValueKind.Object ? value : throw WrongType(what, value, "an object");

    /// <summary>Required string member <paramref name="name"/>, cleaned and cut to <paramref name="maxChars"/>.</summary>
    internal static string Text(JsonElement value, string name, int maxChars) =>
        OptionalText(value, name, maxChars) ?? throw new GuestAgentProtocolException($"the reply has no '{name}'");

    /// <summary>String member <paramref name="name"/>, cleaned and cut; null when absent or JSON null.</summary>
    internal static string? OptionalText(JsonElement value, string name, int maxChars) =>
        OptionalRawText(value, name) is { } text ? GuestAgentText.Clean(text, maxChars) : null;

    /// <summary>String member <paramref name="name"/> as the guest wrote it, for a parser that checks it; null when absent or JSON null.</summary>
    internal static string? OptionalRawText(JsonElement value, string name)
    {
        if (!Present(value, name, out var member))
            return null;
        return String(member, name);
    }

    /// <summary>The text of <paramref name="value"/>, a JSON string, as the guest wrote it (it may not be UTF-8).</summary>
    internal static string String(JsonElement value, string what)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw WrongType(what, value, "a string");
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new GuestAgentProtocolException($"'{what}' is not valid UTF-8 text", e);
        }
    }

    internal static long Integer(JsonElement value, string what) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : throw WrongType(what, value, "an integer");

    internal static long? OptionalInteger(JsonElement value, string name) =>
        Present(value, name, out var member) ? Integer(member, name) : null;

    internal static bool Boolean(JsonElement value, string name)
    {
        if (!Present(value, name, out var member))
            throw new GuestAgentProtocolException($"the reply has no '{name}'");
        return member.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, member, "a boolean"),
        };
    }

    /// <summary>The first <paramref name="max"/> items of the array <paramref name="value"/>, each an object; the rest is not looked at.</summary>
    internal static IEnumerable<JsonElement> Objects(JsonElement value, string what, int max)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw WrongType(what, value, "an array");
        return value.EnumerateArray().Take(max).Select(item => Object(item, $"an item of '{what}'"));
    }

    /// <summary><see cref="Objects"/> of member <paramref name="name"/>; none when it is absent.</summary>
    internal static IEnumerable<JsonElement> OptionalObjects(JsonElement value, string name, int max) =>
        Present(value, name, out var member) ? Objects(member, name, max) : [];

    /// <summary>Whether <paramref name="value"/> has member <paramref name="name"/> and it is not JSON null.</summary>
    private static bool Present(JsonElement value, string name, out JsonElement member) =>
        value.TryGetProperty(name, out member) && member.ValueKind != JsonValueKind.Null;

    private static GuestAgentProtocolException WrongType(string what, JsonElement value, string expected) =>
        new($"'{what}' is {Describe(value.ValueKind)}, not {expected}");

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
