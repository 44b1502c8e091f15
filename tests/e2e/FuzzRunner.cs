using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Paddock.E2e;

/// <summary>Who a fuzz request comes from: a person's session cookie, a host's credential, or nobody.</summary>
/// <param name="Admin">An admin's pages show what hosts reported, paths on a host among them (the audit log's refusals).</param>
public sealed record FuzzCaller(string Name, string? Cookie = null, string? Credential = null, bool Admin = false)
{
    public static readonly FuzzCaller Anonymous = new("anonymous");

    public bool SignedIn => Cookie is not null || Credential is not null;
}

/// <summary>An answer as the fuzz judges it; <paramref name="ConnectionClose"/> is how Kestrel ends a request it refused to read.</summary>
public sealed record FuzzAnswer(int Status, string? MediaType, string Text, bool ConnectionClose = false);

/// <summary>What a fuzz run saw: how many requests, the statuses, and what was wrong with which answer.</summary>
public sealed record FuzzOutcome(int Count, TimeSpan Elapsed, IReadOnlyDictionary<int, int> Statuses, IReadOnlyCollection<string> Failures)
{
    public string Summary => $"{Count} requests in {Elapsed.TotalSeconds:0} s: " + string.Join(", ", Statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"));

    public void AssertClean() =>
        Assert.True(Failures.Count == 0, $"{Summary}\n{Failures.Count} failures:\n" + string.Join('\n', Failures.Order().Take(60)));
}

/// <summary>
/// Sends fuzz cases and judges the answers: never a 5xx; a 4xx to a program (API, hubs, consoles,
/// agents) is a problem detail; no answer carries the 100 KB value or the markup back, or shows a
/// path, a stack frame, an exception's type or the store's SQL.
/// </summary>
public static partial class FuzzRunner
{
    /// <summary>What no answer may show: .NET stack frames, the store's tables and driver.</summary>
    private static readonly string[] Internals = ["   at ", "Exception:", "mt_doc_", "mt_events", "mt_streams", "Npgsql", "SQLSTATE", "SqlState"];

    /// <summary>Where the portal and its data live: only an admin may read them, where a host's report names them.</summary>
    private static readonly string[] Paths = ["/work/", "/var/lib/paddock", "/src/"];

    /// <summary>The paths that answer programs, with problem details: the portal's own rule (Extensions.IsForPrograms).</summary>
    private static readonly string[] ProgramPaths = ["/api", "/hubs", "/console", "/agent"];

    /// <summary>The routes the portal lists (<c>routes</c>), without static files; a hub's routes get the method that reaches them.</summary>
    public static async Task<List<JsonObject>> RoutesAsync(PaddockFixture paddock)
    {
        var routes = (await paddock.PortalCliAsync("routes")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!.AsObject()).Where(r => (string)r["kind"]! != "static").ToList();
        foreach (var hub in routes.Where(r => (string)r["kind"]! == "hub"))
        {
            // A hub's negotiate is a POST; its socket route a GET without the upgrade.
            hub["methods"] = ((string)hub["route"]!).EndsWith("/negotiate", StringComparison.Ordinal) ? "POST" : "GET";
        }

        return routes;
    }

    public static async Task<FuzzOutcome> RunAsync(HttpClient http, IReadOnlyCollection<(FuzzCaller Caller, FuzzCase Case)> cases)
    {
        var failures = new ConcurrentBag<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 6 }, async (item, ct) =>
        {
            var answer = await SendAsync(http, item.Caller, item.Case, ct);
            statuses.AddOrUpdate(answer.Status, 1, (_, n) => n + 1);
            if (Problem(item.Case.Path, answer, item.Caller.Admin) is { } problem)
            {
                failures.Add($"{item.Case.Method} {Cut(item.Case.Path)} as {item.Caller.Name}, {item.Case.Why}: {Cut(problem)}");
            }
        });

        return new(cases.Count, clock.Elapsed, statuses, failures);
    }

    /// <summary>What is wrong with an answer, or null.</summary>
    public static string? Problem(string path, FuzzAnswer answer, bool admin = false)
    {
        var (status, mediaType, text, _) = answer;
        if (status >= 500)
        {
            return $"{status} {text}";
        }

        // Kestrel answers a request line or header it cannot read (a NUL, too long) itself and closes: the portal never saw it.
        var refusedByKestrel = status is 400 or 414 or 431 && text.Length == 0 && answer.ConnectionClose;
        if (status >= 400 && ForPrograms(path) && mediaType != "application/problem+json" && !refusedByKestrel)
        {
            return $"{status} as {mediaType ?? "no body"}, not a problem detail: {text}";
        }

        if (text.Contains(FuzzCases.Huge.AsSpan(0, 1024), StringComparison.Ordinal))
        {
            return $"{status} echoes the 100 KB value ({text.Length} chars)";
        }

        // Markup matters where a browser renders it; JSON (nosniff) carries a refused value back as data.
        if (mediaType == "text/html" && text.Contains(FuzzCases.Tag, StringComparison.Ordinal))
        {
            return $"{status} echoes markup unencoded: {Around(text, text.IndexOf(FuzzCases.Tag, StringComparison.Ordinal))}";
        }

        // The metrics scrape (admins only) is telemetry: OpenTelemetry's conventions label a failure with its
        // exception's type (error.type) and name the database client (Npgsql). No password: MetricsTests.
        if (admin && status == 200 && path.StartsWith("/api/metrics", StringComparison.Ordinal))
        {
            return null;
        }

        if (ExceptionName().Match(text) is { Success: true } exception)
        {
            return $"{status} names an exception type: {Around(text, exception.Index)}";
        }

        return Internals.Concat(admin ? [] : Paths).FirstOrDefault(i => text.Contains(i, StringComparison.Ordinal)) is { } shown
            ? $"{status} shows '{shown}': {Around(text, text.IndexOf(shown, StringComparison.Ordinal))}"
            : null;
    }

    public static async Task<FuzzAnswer> SendAsync(HttpClient http, FuzzCaller caller, FuzzCase fuzz, CancellationToken ct = default)
    {
        var request = new HttpRequestMessage(new HttpMethod(fuzz.Method), fuzz.Path);
        if (fuzz.Body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(fuzz.Body));
            request.Content.Headers.TryAddWithoutValidation("Content-Type", fuzz.ContentType);
        }

        if (fuzz.Header is not ("X-Paddock-Api", _))
        {
            request.Headers.Add("X-Paddock-Api", "1");
        }

        if (fuzz.Header is var (name, value))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        Identify(request, caller);
        try
        {
            using var response = await http.SendAsync(request, ct);
            return new((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync(ct), response.Headers.ConnectionClose == true);
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.InvalidResponse or HttpRequestError.Unknown && e.InnerException is not IOException)
        {
            // The client itself would not send it (a control character in a header): nothing reached the portal.
            return new(0, null, "");
        }
    }

    public static void Identify(HttpRequestMessage request, FuzzCaller caller)
    {
        if (caller.Cookie is { } cookie)
        {
            request.Headers.Add("Cookie", cookie);
        }

        if (caller.Credential is { } credential)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }
    }

    /// <summary>The portal's own rule (Extensions.IsForPrograms): these paths answer programs, with problem details.</summary>
    private static bool ForPrograms(string path) =>
        ProgramPaths.Any(p => path == p || path.StartsWith(p + "/", StringComparison.Ordinal) || path.StartsWith(p + "?", StringComparison.Ordinal));

    private static string Around(string text, int at) => Cut(text[Math.Max(0, at - 100)..]);

    public static string Cut(string text) => text.Length > 200 ? text[..200].ReplaceLineEndings(" ") + "…" : text.ReplaceLineEndings(" ");

    [GeneratedRegex(@"\b(?:System|Microsoft|Npgsql|Marten|JasperFx|Paddock)\.[\w.]*Exception\b|\b[A-Z][A-Za-z]+Exception\b")]
    private static partial Regex ExceptionName();
}
