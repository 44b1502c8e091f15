using System.Buffers;
using System.Text.Json;

namespace Paddock.Engine.GuestAgent;

/// <summary>The guest agent's framing (QEMU's qga/qapi-schema.json): JSON lines like QMP, without ids, and the 0xFF sync sentinel.</summary>
internal static class GuestAgentWire
{
    /// <summary>
    /// Never part of UTF-8 text. Sent before guest-sync-delimited it resets the agent's JSON parser
    /// (a half-sent command is dropped); the agent sends it before that command's reply, so everything
    /// before it is stale (qga/qapi-schema.json, guest-sync-delimited).
    /// </summary>
    internal const byte Sentinel = 0xFF;

    internal const string SyncCommand = "guest-sync-delimited";

    /// <summary>One command as a line: <c>{"execute", "arguments"}</c> and the newline that ends it.</summary>
    internal static byte[] Request(string command, object? arguments) => Line(command, arguments, prefix: []);

    /// <summary>The sentinel, then guest-sync-delimited with <paramref name="id"/>.</summary>
    internal static byte[] SyncRequest(long id) => Line(SyncCommand, new { id }, prefix: [Sentinel]);

    private static byte[] Line(string command, object? arguments, ReadOnlySpan<byte> prefix) =>
        Interop.JsonLines.Command(command, arguments, prefix: prefix);

    /// <summary>
    /// <paramref name="line"/> after its last sentinel, if any: a sentinel inside a line means the agent
    /// started over (a later sync), and what came before it is stale.
    /// </summary>
    internal static ReadOnlySpan<byte> AfterSentinel(ReadOnlySpan<byte> line)
    {
        var at = line.LastIndexOf(Sentinel);
        return at < 0 ? line : line[(at + 1)..];
    }

    internal static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim(" \t\r"u8).IsEmpty;

    /// <summary>Whether <paramref name="line"/> is <c>{"return": id}</c>; anything else (malformed lines included) is not.</summary>
    internal static bool IsSyncReply(ReadOnlySpan<byte> line, long id)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("return", out var value)
                && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) && n == id;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The reply's <c>return</c> value.</summary>
    /// <exception cref="GuestAgentErrorException">The reply is an error.</exception>
    /// <exception cref="GuestAgentProtocolException">The line is not one JSON object with <c>return</c> or <c>error</c>.</exception>
    internal static JsonElement ReadReply(string command, ReadOnlySpan<byte> line)
    {
        JsonElement message;
        try
        {
            message = Interop.JsonLines.ParseOne(line);
        }
        catch (JsonException e)
        {
            throw new GuestAgentProtocolException($"'{command}': the guest sent malformed JSON ({e.Message}): {GuestAgentText.Excerpt(line)}", e);
        }

        if (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("return", out var value))
            return value;
        if (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("error", out var error))
            throw ToError(command, error);
        throw new GuestAgentProtocolException($"'{command}': the guest sent neither a return nor an error: {GuestAgentText.Excerpt(line)}");
    }

    private static GuestAgentErrorException ToError(string command, JsonElement error)
    {
        string Text(string property)
        {
            if (error.ValueKind != JsonValueKind.Object)
                return "(none)";
            try
            {
                return GuestAgentMember.OptionalText(error, property, GuestAgentLimits.MaxTextChars) ?? "(none)";
            }
            catch (GuestAgentProtocolException)
            {
                // Not a string, or not UTF-8: the error still counts as an error.
                return "(unreadable)";
            }
        }
        return new GuestAgentErrorException(command, Text("class"), Text("desc"));
    }
}
