using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;

namespace Paddock.Cli;

/// <summary>The portal said no: its problem details (title, and the fields at fault). Exit code 1.</summary>
public sealed class RefusedException(int status, string title, IReadOnlyDictionary<string, string[]> errors) : Exception(title)
{
    public int Status { get; } = status;

    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
}

/// <summary>
/// The portal's API as typed calls. Hand-written rather than generated from the OpenAPI document:
/// it needs a dozen of the routes, it stays readable beside the README's API section, and it builds
/// without a portal running; the document's schemas are what the portal is tested against
/// (OpenApiTests), and this client is tested against the portal (CliTests). Answers are kept as the
/// JSON the portal sent, so <c>--output json</c> loses nothing the client does not know of.
/// </summary>
public sealed class PaddockClient(HttpClient http) : IDisposable
{
    public static PaddockClient For(Profile profile)
    {
        var handler = new HttpClientHandler();
        if (profile.Fingerprint is { Length: > 0 } pin)
        {
            // A self-signed portal: exactly this certificate, whatever the system trusts.
            handler.ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
                certificate is not null && string.Equals(Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)), pin.Replace(":", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        }

        var client = new HttpClient(handler) { BaseAddress = new Uri(profile.Url.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", profile.Token);
        return new PaddockClient(client);
    }

    public Uri BaseAddress => http.BaseAddress!;

    public Task<JsonElement> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);

    public Task<JsonElement> PostAsync(string path, object? body, CancellationToken ct) => SendAsync(HttpMethod.Post, path, body, ct);

    public Task<JsonElement> DeleteAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Delete, path, null, ct);

    /// <summary>A VM by its id or its name among the caller's VMs.</summary>
    public async Task<Guid> VmIdAsync(string idOrName, CancellationToken ct)
    {
        if (Guid.TryParse(idOrName, out var id))
        {
            return id;
        }

        var named = (await GetAsync("api/vms", ct)).EnumerateArray().Where(v => v.GetProperty("name").GetString() == idOrName).ToList();
        return named switch
        {
            [var one] => one.GetProperty("id").GetGuid(),
            [] => throw new RefusedException(404, $"No VM named '{idOrName}'.", new Dictionary<string, string[]>()),
            _ => throw new RefusedException(409, $"{named.Count} VMs are named '{idOrName}': give the id.", new Dictionary<string, string[]>()),
        };
    }

    /// <summary>Polls a task (where a 202 pointed) until it is no longer Running; a failed task is a refusal.</summary>
    public async Task<JsonElement> WaitAsync(string taskPath, CancellationToken ct)
    {
        while (true)
        {
            var task = await GetAsync(taskPath.TrimStart('/'), ct);
            switch (task.GetProperty("state").GetString())
            {
                case "Running":
                    await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
                    continue;
                case "Failed":
                    throw new RefusedException(409, $"{task.GetProperty("what").GetString()} failed: {task.GetProperty("message").GetString()}", new Dictionary<string, string[]>());
                default:
                    return task;
            }
        }
    }

    /// <summary>Uploads a file as the body, reporting the bytes sent.</summary>
    public async Task<JsonElement> UploadAsync(string path, FileInfo file, IProgress<long> progress, CancellationToken ct)
    {
        await using var stream = file.OpenRead();
        using var content = new ProgressContent(stream, progress);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = file.Length;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        return await AnswerAsync(await http.SendAsync(request, ct), ct);
    }

    private async Task<JsonElement> SendAsync(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        return await AnswerAsync(await http.SendAsync(request, ct), ct);
    }

    private static async Task<JsonElement> AnswerAsync(HttpResponseMessage response, CancellationToken ct)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (response.IsSuccessStatusCode)
            {
                var answer = text.Length == 0 ? JsonDocument.Parse("{}").RootElement : JsonDocument.Parse(text).RootElement.Clone();
                return response.Headers.Location is { } location && answer.ValueKind == JsonValueKind.Object
                    ? WithLocation(answer, location.ToString())
                    : answer;
            }

            throw Refusal(response.StatusCode, text);
        }
    }

    /// <summary>The answer with the Location header beside it (a 202's task), as <c>location</c>.</summary>
    private static JsonElement WithLocation(JsonElement answer, string location)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(answer.GetRawText())!.AsObject();
        node["location"] = location;
        return JsonDocument.Parse(node.ToJsonString()).RootElement.Clone();
    }

    private static RefusedException Refusal(HttpStatusCode status, string text)
    {
        try
        {
            var problem = JsonDocument.Parse(text).RootElement;
            var errors = problem.TryGetProperty("errors", out var fields)
                ? fields.EnumerateObject().ToDictionary(f => f.Name, f => f.Value.EnumerateArray().Select(e => e.GetString() ?? "").ToArray())
                : [];
            return new RefusedException((int)status, problem.TryGetProperty("title", out var title) ? title.GetString() ?? status.ToString() : status.ToString(), errors);
        }
        catch (JsonException)
        {
            return new RefusedException((int)status, $"{(int)status} {status}", new Dictionary<string, string[]>());
        }
    }

    public void Dispose() => http.Dispose();

    /// <summary>A stream body that reports how far it has been read.</summary>
    private sealed class ProgressContent(Stream source, IProgress<long> progress) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var buffer = new byte[1 << 20];
            long sent = 0;
            int read;
            while ((read = await source.ReadAsync(buffer)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read));
                sent += read;
                progress.Report(sent);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = source.Length;
            return true;
        }
    }
}
