using System.Text.Json;

namespace Paddock.E2e;

/// <summary>
/// Whether a JSON answer is what an OpenAPI 3.1 schema says, strictly: every property the answer
/// has is documented (unless the schema takes any, as a dictionary does), every required one is
/// there, and types, enums and array items agree. Returns what does not match, by JSON path.
/// </summary>
public static class SchemaCheck
{
    public static IReadOnlyList<string> Problems(JsonElement document, JsonElement schema, JsonElement value)
    {
        var problems = new List<string>();
        Check(document, schema, value, "$", problems);
        return problems;
    }

    private static void Check(JsonElement document, JsonElement schema, JsonElement value, string at, List<string> problems)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            Check(document, Resolve(document, reference.GetString()!), value, at, problems);
            return;
        }

        foreach (var choice in new[] { "oneOf", "anyOf" })
        {
            if (schema.TryGetProperty(choice, out var alternatives))
            {
                if (!alternatives.EnumerateArray().Any(a => Problems(document, a, value).Count == 0))
                {
                    problems.Add($"{at}: {value.GetRawText()} matches none of its {choice}");
                }

                return;
            }
        }

        if (schema.TryGetProperty("type", out var type) && !TypeAllows(type, value))
        {
            problems.Add($"{at}: a {value.ValueKind} where the schema says {type.GetRawText()}");
            return;
        }

        if (schema.TryGetProperty("enum", out var values) && !values.EnumerateArray().Any(v => v.GetRawText() == value.GetRawText()))
        {
            problems.Add($"{at}: {value.GetRawText()} is not one of {values.GetRawText()}");
        }

        if (value.ValueKind == JsonValueKind.Object)
        {
            CheckObject(document, schema, value, at, problems);
        }
        else if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                Check(document, items, item, $"{at}[{i++}]", problems);
            }
        }
    }

    private static void CheckObject(JsonElement document, JsonElement schema, JsonElement value, string at, List<string> problems)
    {
        var documented = schema.TryGetProperty("properties", out var properties) ? properties : default;
        var extra = schema.TryGetProperty("additionalProperties", out var additional) ? additional : default;
        foreach (var property in value.EnumerateObject())
        {
            if (documented.ValueKind == JsonValueKind.Object && documented.TryGetProperty(property.Name, out var propertySchema))
            {
                Check(document, propertySchema, property.Value, $"{at}.{property.Name}", problems);
            }
            else if (extra.ValueKind == JsonValueKind.Object)
            {
                Check(document, extra, property.Value, $"{at}.{property.Name}", problems);
            }
            else if (extra.ValueKind != JsonValueKind.True)
            {
                problems.Add($"{at}.{property.Name}: not in the schema");
            }
        }

        if (schema.TryGetProperty("required", out var required))
        {
            foreach (var name in required.EnumerateArray().Select(r => r.GetString()!).Where(n => !value.TryGetProperty(n, out _)))
            {
                problems.Add($"{at}.{name}: required, missing");
            }
        }
    }

    private static bool TypeAllows(JsonElement type, JsonElement value)
    {
        var allowed = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToHashSet() : [type.GetString()!];
        return value.ValueKind switch
        {
            JsonValueKind.Null => allowed.Contains("null"),
            JsonValueKind.True or JsonValueKind.False => allowed.Contains("boolean"),
            JsonValueKind.String => allowed.Contains("string"),
            JsonValueKind.Array => allowed.Contains("array"),
            JsonValueKind.Object => allowed.Contains("object"),
            JsonValueKind.Number => allowed.Contains("number") || (allowed.Contains("integer") && value.TryGetInt64(out _)),
            _ => false,
        };
    }

    private static JsonElement Resolve(JsonElement document, string reference)
    {
        Assert.StartsWith("#/", reference);
        return reference[2..].Split('/').Aggregate(document, (node, part) => node.GetProperty(part.Replace("~1", "/").Replace("~0", "~")));
    }
}
