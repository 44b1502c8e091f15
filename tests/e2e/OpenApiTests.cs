using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.OpenApi;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// The OpenAPI document: it parses and validates, it holds every <c>/api</c> route the portal maps
/// (asked of the portal), each with its problem answers, and what the endpoints really answer —
/// successes and problems — is what its schemas say, property by property. Its page shows it.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class OpenApiTests(PaddockFixture paddock)
{
    [Fact]
    public async Task The_document_validates_lists_every_api_route_and_the_answers_match_its_schemas()
    {
        using var anonymous = paddock.NewHttpClient();
        var text = await anonymous.GetStringAsync("/openapi/v1.json");
        var read = OpenApiDocument.Parse(text, "json");
        Assert.True(read.Diagnostic?.Errors.Count is null or 0, string.Join("; ", read.Diagnostic?.Errors.Select(e => e.Message) ?? []));
        Assert.Empty(read.Document!.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? []);
        using var json = JsonDocument.Parse(text);
        var document = json.RootElement;

        // Every /api route and method the portal maps is documented, with its problem answers.
        var mapped = (await paddock.PortalCliAsync("routes")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(r => (string)r["kind"]! == "endpoint" && ((string)r["route"]!).StartsWith("/api/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(mapped);
        foreach (var route in mapped)
        {
            var path = Constraint().Replace((string)route["route"]!, "{$1}").TrimEnd('/');
            // A route that takes any method (the metrics scrape) is documented by its GET.
            foreach (var method in ((string)route["methods"]!).Replace("*", "GET", StringComparison.Ordinal).Split(','))
            {
                var operation = document.GetProperty("paths").TryGetProperty(path, out var item) && item.TryGetProperty(method.ToLowerInvariant(), out var found)
                    ? found
                    : throw new Xunit.Sdk.XunitException($"{method} {path} is not in the document");
                Assert.True(operation.GetProperty("responses").TryGetProperty("401", out _), $"{method} {path} documents no 401");
            }
        }

        // What the endpoints answer is what the document says, for a member's objects and refusals.
        var page = await paddock.SignInAsync(PaddockFixture.Opal);
        var api = new Answers(page.APIRequest, document);
        var vm = (await api.CheckAsync("POST", "/api/vms", "/api/vms", 201, new { name = "opal-doc", vCpus = 1, memoryMiB = 128, start = false })).GetProperty("id").GetGuid();
        await Eventually.Async(async () =>
        {
            var shown = await api.CheckAsync("GET", "/api/vms/{id}", $"/api/vms/{vm}", 200);
            return shown.GetProperty("pendingOperation").ValueKind == JsonValueKind.Null && shown.GetProperty("status").GetString() == "Stopped";
        }, PaddockFixture.Boot, "the VM made, stopped");
        var snapshot = await api.CheckAsync("POST", "/api/vms/{id}/snapshots", $"/api/vms/{vm}/snapshots", 202, new { name = "doc" });
        var task = $"/api/vms/{vm}/tasks/{snapshot.GetProperty("operationId").GetGuid()}";
        await Eventually.Async(async () => (await api.CheckAsync("GET", "/api/vms/{id}/tasks/{operationId}", task, 200)).GetProperty("state").GetString() != "Running",
            PaddockFixture.Boot, "the snapshot task to end");
        var network = (await api.CheckAsync("POST", "/api/networks", "/api/networks", 201, new { name = "opal-net", cidr = "10.77.0.0/24" })).GetProperty("id").GetGuid();
        await api.CheckAsync("POST", "/api/tokens", "/api/tokens", 201, new { name = "doc", days = 1, scope = "ReadOnly" });
        var template = (await api.CheckAsync("GET", "/api/templates", "/api/templates", 200)).EnumerateArray().First().GetProperty("id").GetGuid();
        string[] reads =
        [
            "/api/vms", $"/api/vms/{vm}", $"/api/vms/{vm}/tasks", $"/api/vms/{vm}/forwards", $"/api/vms/{vm}/console-viewers", $"/api/vms/{vm}/console-shares", "/api/networks", $"/api/networks/{network}", "/api/images",
            "/api/images/limits", $"/api/templates/{template}", "/api/quota", "/api/policy", "/api/flavors", "/api/tokens", "/api/requests",
        ];
        foreach (var path in reads)
        {
            await api.CheckAsync("GET", Guids().Replace(path, "{id}"), path, 200);
        }

        await api.CheckAsync("GET", "/api/vms/{id}", $"/api/vms/{Guid.NewGuid()}", 404);
        await api.CheckAsync("POST", "/api/vms", "/api/vms", 422, new { name = "", vCpus = 1, memoryMiB = 128 });
        await api.CheckAsync("POST", "/api/vms/{id}/{verb}", $"/api/vms/{vm}/resume", 409);
        await api.CheckAsync("PUT", "/api/policy", "/api/policy", 403, new { customSizes = true });
        await api.CheckAsync("POST", "/api/vms/{id}/{verb}", $"/api/vms/{vm}/delete", 202);
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await new Answers(admin.APIRequest, document).CheckAsync("GET", "/api/capacity", "/api/capacity", 200);

        // The reference page browses the same document.
        await page.GotoAsync("/api-reference");
        await PaddockFixture.InteractiveAsync(page);
        await Assertions.Expect(page.GetByRole(AriaRole.Region, new() { Name = "POST /api/vms", Exact = true })).ToContainTextAsync("Idempotency-Key");
        await Assertions.Expect(page.GetByRole(AriaRole.Region, new() { Name = "Schema VmView", Exact = true })).ToContainTextAsync("pendingOperation");
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "api-reference.png") });
        await page.Context.CloseAsync();
        await admin.Context.CloseAsync();
    }

    /// <summary>Calls the API and checks the answer's status and body against the document's schema for that route, method and status.</summary>
    private sealed class Answers(IAPIRequestContext api, JsonElement document)
    {
        public async Task<JsonElement> CheckAsync(string method, string template, string path, int status, object? body = null)
        {
            var options = new APIRequestContextOptions { Method = method, Headers = PaddockFixture.ApiHeaders };
            if (body is not null)
            {
                options.DataObject = body;
            }

            var answer = await api.FetchAsync(path, options);
            var text = await answer.TextAsync();
            Assert.True(answer.Status == status, $"{method} {path}: {answer.Status} {text}");
            var media = answer.Headers["content-type"].Split(';')[0];
            var content = document.GetProperty("paths").GetProperty(template).GetProperty(method.ToLowerInvariant())
                .GetProperty("responses").GetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).GetProperty("content");
            Assert.True(content.TryGetProperty(media, out var described), $"{method} {template} {status}: answered {media}, documented {content.GetRawText()}");
            var value = JsonDocument.Parse(text).RootElement.Clone();
            var problems = SchemaCheck.Problems(document, described.GetProperty("schema"), value);
            Assert.True(problems.Count == 0, $"{method} {path} {status}: {string.Join("; ", problems)}");
            return value;
        }
    }

    [GeneratedRegex(@"\{(\w+)(?::[^}]*)?\}")]
    private static partial Regex Constraint();

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex Guids();
}
