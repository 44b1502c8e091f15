using System.Text.Json;

namespace Paddock.Cli;

public enum OutputFormat
{
    Table,
    Json,
}

/// <summary>What a command prints: the portal's JSON as it came (<c>--output json</c>), or a table of the columns a person reads.</summary>
public sealed class Output(OutputFormat format, TextWriter writer)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>An object or a list of them; <paramref name="columns"/> are the JSON properties a table shows, in order.</summary>
    public void Write(JsonElement answer, params string[] columns)
    {
        if (format == OutputFormat.Json)
        {
            writer.WriteLine(JsonSerializer.Serialize(answer, Indented));
            return;
        }

        var rows = answer.ValueKind == JsonValueKind.Array ? [.. answer.EnumerateArray()] : new List<JsonElement> { answer };
        var cells = rows.Select(r => columns.Select(c => Cell(r, c)).ToArray()).ToList();
        var widths = columns.Select((c, i) => cells.Select(r => r[i].Length).Append(c.Length).Max()).ToArray();
        writer.WriteLine(string.Join("  ", columns.Select((c, i) => c.ToUpperInvariant().PadRight(widths[i]))).TrimEnd());
        foreach (var row in cells)
        {
            writer.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }

    /// <summary>A line for a person (table) or the answer as JSON.</summary>
    public void Say(JsonElement answer, string sentence)
    {
        if (format == OutputFormat.Json)
        {
            writer.WriteLine(JsonSerializer.Serialize(answer, Indented));
        }
        else
        {
            writer.WriteLine(sentence);
        }
    }

    private static string Cell(JsonElement row, string column) =>
        row.ValueKind == JsonValueKind.Object && row.TryGetProperty(column, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.Null or JsonValueKind.Undefined => "-",
                JsonValueKind.String => value.GetString()!,
                JsonValueKind.Array => value.GetArrayLength().ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => value.GetRawText(),
            }
            : "-";
}
