using System.Text.Json.Nodes;

namespace Paddock.E2e;

/// <summary>One hostile request: what to send and why (the why is what a failure names).</summary>
public sealed record FuzzCase(string Method, string Path, string Why, string? Body = null, string ContentType = "application/json", (string Name, string Value)? Header = null);

/// <summary>
/// What a fuzz aims a route at instead of random ids: the route values of things made for the fuzz,
/// and a body the route would take as it is, so that each hostile value reaches the route's own rules.
/// </summary>
public sealed record FuzzTarget(IReadOnlyDictionary<string, string>? RouteValues = null, JsonObject? Body = null);

/// <summary>
/// Hostile requests for a route, from what the portal says the route takes (<c>routes</c> lists
/// each parameter with where it comes from and, for a JSON body, its fields' shapes).
/// </summary>
public static partial class FuzzCases
{
    /// <summary>Too long for any field: no answer may carry it back.</summary>
    public static readonly string Huge = string.Concat(Enumerable.Repeat("fuzz-0123456789-", 100 * 1024 / 16));

    /// <summary>Markup no answer may carry back as markup (a page that shows it must encode it).</summary>
    public const string Tag = "<fuzz-tag";

    /// <summary>The longest string a request's JSON may hold (RequestJson.MaxStringChars): it passes the reader and meets the rules.</summary>
    private const int LongestString = 16 * 1024;

    /// <summary>Long, but short enough for a URL (Kestrel's request line takes 8 KB).</summary>
    private static readonly string Long = new('L', 4000);

    /// <summary>Values for a path segment or query value, already percent-encoded as sent.</summary>
    private static readonly string[] InUrl =
    [
        "abc", "99999999999999999999999999", "-1", "-9223372036854775809", "2147483648", "-2147483649", "1e400", "%00", "%0D%0A", "%09", "%1B%5B31m", "%2F", "%5C",
        "..%2F..%2Fetc%2Fpasswd", "%2F%2Fevil", "%2F%5Cevil", "%09%2F%2Fevil", "%5C%5Cevil", "https:%2F%2Fevil.example", "%C3%28", "%", Long,
        "%3Cfuzz-tag%3E", "%E2%80%AE%EF%BB%BF%F0%9F%92%A9", "00000000-0000-0000-0000-000000000000",
    ];

    /// <summary>
    /// Values for a JSON field: wrong types, out-of-range and extreme numbers, control and odd unicode
    /// characters, strings at and over the length bound, objects and arrays nested past the reader's depth.
    /// </summary>
    private static readonly string[] InJson =
    [
        "\"abc\"", "99999999999999999999999999", "1e400", "1e308", "-1", "-9223372036854775809", "9223372036854775807", "2147483647", "-2147483648", "0", "-0", "1.5",
        "\"\\u0000\"", "\"a\\r\\nb\"", "\"\\t\"", "\"\\u001b[31m\"", "\"\\u202e\\ufeff\\ud83d\\udca9e\\u0301\"", "\"ñé漢字\"", "\"<fuzz-tag>\"",
        $"\"{Huge}\"", $"\"{new string('s', LongestString)}\"", $"\"{new string('s', LongestString + 1)}\"",
        "{}", "[]", "[{}]", "true", "null", "\"//evil\"", "\"/\\\\evil\"", "\"\\ud800\"", "\"00000000-0000-0000-0000-000000000000\"",
        "\"-00:00:01\"", "\"10675199.02:48:05.4775807\"", "\"P1D\"",
        new string('[', 70) + new string(']', 70), string.Concat(Enumerable.Repeat("{\"a\":", 70)) + "1" + new string('}', 70),
    ];

    /// <summary>Whole bodies that are not what any route reads.</summary>
    private static readonly (string Body, string ContentType, string Why)[] Bodies =
    [
        ("", "application/json", "an empty body"),
        ("{", "application/json", "cut-off JSON"),
        ("{\"a\":", "application/json", "cut-off JSON"),
        ("[]", "application/json", "an array"),
        ("[{}]", "application/json", "an array of an object"),
        ("{}", "application/json", "an object without fields"),
        ("null", "application/json", "null"),
        ("\"text\"", "application/json", "a string"),
        ("12", "application/json", "a number"),
        (new string('[', 5000) + new string(']', 5000), "application/json", "nesting 5000 deep"),
        (string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5000), "application/json", "objects nested 5000 deep"),
        ($"\"{Huge}\"", "application/json", "a 100 KB string"),
        ("\0\0\0", "application/json", "NUL bytes"),
        ("{\"x\":1}", "text/plain", "JSON as text/plain"),
        ("a=%00&b=" + Huge, "application/x-www-form-urlencoded", "a form with NUL and 100 KB"),
    ];

    /// <summary>Values for the headers the API reads (X-Paddock-Api, Content-Type, Origin).</summary>
    private static readonly string[] InHeaders = ["0", "\u001b[31m", "\t", new string('H', 4000), "99999999999999999999999999", "//evil"];

    public static IEnumerable<FuzzCase> For(JsonObject route, bool signedIn, FuzzTarget? target = null)
    {
        var pattern = (string)route["route"]!;
        var methods = (string)route["methods"]!;
        var method = methods is "*" or "GET,HEAD" or "GET,POST" ? "GET" : methods;
        var parameters = route["parameters"]?.AsArray().Select(p => p!.AsObject()).ToList() ?? [];
        var inRoute = parameters.Where(p => (string)p["from"]! == "route").ToList();
        var inQuery = parameters.Where(p => (string)p["from"]! is "query").Append(new JsonObject { ["name"] = "unknown", ["type"] = "string" }).ToList();
        var form = parameters.Where(p => (string)p["from"]! == "form").Select(p => (string)p["name"]!).ToList();
        var bodyShape = parameters.FirstOrDefault(p => (string)p["from"]! == "body")?["type"];
        var takesBody = method is "POST" or "PUT" or "DELETE" or "PATCH";

        string PathWith(string? name, string? value) => Parameter().Replace(pattern, m =>
            m.Groups[1].Value == name ? value!
            : target?.RouteValues?.GetValueOrDefault(m.Groups[1].Value) is { } aimed ? Uri.EscapeDataString(aimed)
            : Baseline(inRoute.First(p => (string)p["name"]! == m.Groups[1].Value)["type"]));

        var baseBody = bodyShape is null ? null : target?.Body ?? BaselineJson(bodyShape);
        var plainBody = baseBody?.ToJsonString();
        foreach (var p in inRoute)
        {
            foreach (var value in InUrl)
            {
                yield return new(method, PathWith((string)p["name"]!, value), $"route value {p["name"]}={Shorten(value)}", plainBody);
            }
        }

        var path = PathWith(null, null);
        foreach (var name in inQuery.Select(q => (string)q["name"]!))
        {
            foreach (var value in InUrl)
            {
                var query = string.Join('&', inQuery.Select(q => $"{q["name"]}={((string)q["name"]! == name ? value : Baseline(q["type"]))}"));
                yield return new(method, $"{path}?{query}", $"query {name}={Shorten(value)}", plainBody);
            }
        }

        foreach (var header in new[] { "X-Paddock-Api", "Origin", "Accept" })
        {
            foreach (var value in InHeaders)
            {
                yield return new(method, path, $"header {header}={Shorten(value)}", plainBody, Header: (header, value));
            }
        }

        if (takesBody)
        {
            foreach (var body in BodyCases(method, path, form, bodyShape, baseBody, signedIn))
            {
                yield return body;
            }
        }
    }

    /// <summary>Whole bodies, form fields, and the JSON body field by field (each value, and the field left out).</summary>
    private static IEnumerable<FuzzCase> BodyCases(string method, string path, List<string> form, JsonNode? shape, JsonNode? baseBody, bool signedIn)
    {
        foreach (var (text, type, why) in Bodies)
        {
            yield return new(method, path, $"body: {why}", text, type);
        }

        foreach (var name in form)
        {
            foreach (var value in InUrl)
            {
                yield return new(method, path, $"form {name}={Shorten(value)}", $"{name}={value}", "application/x-www-form-urlencoded");
            }
        }

        // Field by field only where the body is read, that is signed in: anonymous calls stop at 401.
        if (shape is null || baseBody is null || !signedIn)
        {
            yield break;
        }

        foreach (var (why, json) in FieldCases(shape, baseBody))
        {
            yield return new(method, path, why, json);
        }
    }

    /// <summary>A JSON value of <paramref name="shape"/> with one field at a time given each hostile value, or left out.</summary>
    public static IEnumerable<(string Why, string Json)> FieldCases(JsonNode shape, JsonNode baseBody)
    {
        foreach (var field in Leaves(shape, ""))
        {
            foreach (var value in InJson)
            {
                // Spliced in as text: a lone surrogate is what a client may send but no JsonNode writes.
                var json = baseBody.DeepClone();
                Set(json, field, Placeholder);
                yield return ($"field {field}={Shorten(value)}", json.ToJsonString().Replace($"\"{Placeholder}\"", value, StringComparison.Ordinal));
            }

            var without = baseBody.DeepClone();
            Set(without, field, null, remove: true);
            yield return ($"field {field} left out", without.ToJsonString());
        }
    }

    /// <summary>Whole JSON values that are no argument of any method: wrong types, huge, nested past the reader's depth.</summary>
    public static IEnumerable<(string Why, string Json)> WrongValues() =>
        InJson.Select(v => ($"the value {Shorten(v)}", v)).Concat(Bodies.Where(b => b.ContentType == "application/json" && b.Body.Length > 0 && b.Body[0] != '\0').Select(b => (b.Why, b.Body)));

    private const string Placeholder = "__fuzz_value__";

    private static string Shorten(string value) => value.Length > 40 ? $"{value[..20]}…({value.Length} chars)" : value;

    /// <summary>A value of the shape that binds: a random id, so that nothing of anyone's is touched.</summary>
    private static string Baseline(JsonNode? shape) => (string?)shape switch
    {
        "guid" => Guid.NewGuid().ToString(),
        "integer" or "number" => "1",
        "boolean" => "false",
        "timespan" => "01:00:00",
        "datetime" => "2026-01-01T00:00:00Z",
        _ => "fuzz",
    };

    /// <summary>A JSON value of the shape that binds; enums by name (the API) or by number (the hosts' hub).</summary>
    public static JsonNode? BaselineJson(JsonNode? shape, bool enumsAsNumbers = false) => shape switch
    {
        JsonObject fields => new JsonObject(fields.Select(f => KeyValuePair.Create(f.Key, BaselineJson(f.Value, enumsAsNumbers)))),
        JsonArray item => new JsonArray(BaselineJson(item[0], enumsAsNumbers)),
        _ => (string?)shape switch
        {
            "guid" => Guid.NewGuid().ToString(),
            "integer" or "number" => 1,
            "boolean" => false,
            "timespan" => "01:00:00",
            "datetime" => "2026-01-01T00:00:00Z",
            { } s when s.StartsWith("enum:", StringComparison.Ordinal) => enumsAsNumbers ? 0 : s[5..].Split('|')[0],
            _ => "fuzz",
        },
    };

    /// <summary>Dotted paths of a body's fields, nested objects included (an array's items as [0]).</summary>
    private static IEnumerable<string> Leaves(JsonNode? shape, string prefix) => shape switch
    {
        JsonObject fields => fields.SelectMany(f => Leaves(f.Value, prefix.Length == 0 ? f.Key : $"{prefix}.{f.Key}").Prepend(prefix.Length == 0 ? f.Key : $"{prefix}.{f.Key}"))
            .Where(p => p != prefix).Distinct(),
        JsonArray item => Leaves(item[0], $"{prefix}[0]"),
        _ => [],
    };

    /// <summary>Sets (or removes) the field at a dotted path; a path the body does not have is left alone.</summary>
    private static void Set(JsonNode? json, string field, JsonNode? value, bool remove = false)
    {
        var parts = field.Replace("[0]", ".0", StringComparison.Ordinal).Split('.');
        var node = json;
        foreach (var part in parts[..^1])
        {
            node = part == "0" ? (node as JsonArray)?.FirstOrDefault() : node?[part];
        }

        switch (node)
        {
            case JsonArray { Count: > 0 } array when remove:
                array.RemoveAt(0);
                break;
            case JsonArray { Count: > 0 } array:
                array[0] = value;
                break;
            case JsonObject obj when remove:
                obj.Remove(parts[^1]);
                break;
            case JsonObject obj:
                obj[parts[^1]] = value;
                break;
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\{\**([A-Za-z]+)(?::[a-z]+)?\}")]
    private static partial System.Text.RegularExpressions.Regex Parameter();
}
