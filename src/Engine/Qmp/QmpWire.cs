using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Paddock.Engine.Qmp;

/// <summary>QMP's framing and the small parsers <see cref="QmpClient"/>'s reader loop uses on QEMU's lines.</summary>
internal static class QmpWire
{
    /// <summary>One command as a line: <c>{"execute", "arguments", "id"}</c> and the newline that ends it.</summary>
    internal static byte[] Request(string command, object? arguments, long id) => Interop.JsonLines.Command(command, arguments, id);

    internal static bool TryTakeLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        // QEMU ends lines with CRLF; LF alone is accepted too (the JSON parser ignores the CR).
        var newline = buffer.PositionOf((byte)'\n');
        if (newline is null)
        {
            line = default;
            return false;
        }
        line = buffer.Slice(0, newline.Value);
        CheckLineLength(line.Length);
        buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));
        return true;
    }

    /// <exception cref="QmpLimitExceededException">A line (or the start of one) is longer than <see cref="QmpClient.MaxLineBytes"/>.</exception>
    internal static void CheckLineLength(long bytes)
    {
        if (bytes > QmpClient.MaxLineBytes)
        {
            throw new QmpLimitExceededException("line bytes", QmpClient.MaxLineBytes,
                $"QEMU sent a line longer than {QmpClient.MaxLineBytes} bytes, the most the client reads as one message.");
        }
    }

    internal static bool IsBlank(ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
        {
            foreach (var b in segment.Span)
            {
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
                    return false;
            }
        }
        return true;
    }

    internal static QmpErrorException ToError(string command, JsonElement error)
    {
        string Text(string property) =>
            error.ValueKind == JsonValueKind.Object && error.TryGetProperty(property, out var p) && p.ValueKind == JsonValueKind.String
                ? p.GetString()!
                : "(none)";
        return new QmpErrorException(command, Text("class"), Text("desc"));
    }

    internal static DateTimeOffset ReadTimestamp(JsonElement message)
    {
        if (message.TryGetProperty("timestamp", out var t) && t.ValueKind == JsonValueKind.Object
            && t.TryGetProperty("seconds", out var s) && s.TryGetInt64(out var seconds)
            && t.TryGetProperty("microseconds", out var us) && us.TryGetInt64(out var micros)
            && seconds >= 0 && seconds < 253_402_300_800 && micros is >= 0 and < 1_000_000)
        {
            return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(micros * 10);
        }
        // QEMU writes -1 when it could not read the clock.
        return DateTimeOffset.UtcNow;
    }

    internal static string Excerpt(ReadOnlySequence<byte> line)
    {
        var text = Encoding.UTF8.GetString(line.Slice(0, Math.Min(line.Length, 200)));
        return string.Concat(text.Select(c => char.IsControl(c) ? '?' : c));
    }
}
