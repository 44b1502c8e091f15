using System.Buffers;
using System.Text.Json;

namespace Paddock.Engine.Interop;

/// <summary>
/// QEMU's JSON line protocols (QMP and the guest agent's): a command as one line, and one JSON value
/// read from a line the other side sent, nothing after it.
/// </summary>
internal static class JsonLines
{
    /// <summary>
    /// <paramref name="prefix"/>, then <c>{"execute", "arguments"[, "id"]}</c> and the newline that
    /// ends it. Utf8JsonWriter escapes control characters, so the only newline is the terminator.
    /// </summary>
    internal static byte[] Command(string command, object? arguments, long? id = null, ReadOnlySpan<byte> prefix = default)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        buffer.Write(prefix);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("execute", command);
            if (arguments is not null)
            {
                json.WritePropertyName("arguments");
                JsonSerializer.Serialize(json, arguments, arguments.GetType());
            }

            if (id is { } number)
                json.WriteNumber("id", number);
            json.WriteEndObject();
        }

        return [.. buffer.WrittenSpan, (byte)'\n'];
    }

    /// <summary>The one JSON value of <paramref name="line"/>.</summary>
    /// <exception cref="JsonException">The line is not exactly one JSON value.</exception>
    internal static JsonElement ParseOne(ReadOnlySequence<byte> line) => ParseOne(new Utf8JsonReader(line));

    /// <inheritdoc cref="ParseOne(ReadOnlySequence{byte})"/>
    internal static JsonElement ParseOne(ReadOnlySpan<byte> line) => ParseOne(new Utf8JsonReader(line));

    private static JsonElement ParseOne(Utf8JsonReader reader)
    {
        // One value per line; the reader's defaults refuse anything after it.
        using var document = JsonDocument.ParseValue(ref reader);
        var message = document.RootElement.Clone();
        if (reader.Read())
            throw new JsonException("more than one JSON value on a line");
        return message;
    }
}
