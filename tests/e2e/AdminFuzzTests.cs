using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Paddock.E2e;

/// <summary>
/// Bad input from an admin gets 4xx, never 5xx: every route is fuzzed as an admin, past the 403 a
/// member meets. Routes that change something are aimed at things made for the fuzz (a host enrolled
/// for it, the quota and a pending request of a member of its own, the built-in template that refuses
/// every visibility) or at ids that do not exist; the fleet's settings are put back as they were.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class AdminFuzzTests(PaddockFixture paddock)
{
    /// <summary>VmTemplate.BuiltinId: its visibility is refused whatever the body says.</summary>
    private const string BuiltinTemplate = "0d0c0000-0000-4000-8000-000000000001";

    [Fact]
    public async Task Hostile_input_from_an_admin_on_every_route_gets_a_4xx_and_the_fleet_settings_are_put_back()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        using var api = await paddock.ApiClientAsAsync(admin, paddock.PortalUrl);
        var policyBefore = await GetObjectAsync(api, "/api/policy");
        var host = (await FuzzHost.EnrollAsync(paddock, "fuzz-admin-target")).Id;
        var request = await PendingRequestAsync(api);
        var network = await NetworkAsync(api);

        var overcommit = policyBefore["overcommit"]!.AsObject();
        var targets = new Dictionary<string, FuzzTarget>
        {
            ["PUT /api/policy"] = new(Body: new JsonObject { ["customSizes"] = policyBefore["customSizes"]!.DeepClone(), ["leaseNotice"] = policyBefore["leaseNotice"]!.DeepClone(), ["expiredGrace"] = policyBefore["expiredGrace"]!.DeepClone() }),
            ["PUT /api/policy/overcommit"] = new(Body: (JsonObject)overcommit.DeepClone()),
            ["PUT /api/hosts/{id:guid}/policy"] = new(Host(host), new JsonObject { ["policy"] = overcommit.DeepClone() }),
            ["PUT /api/hosts/{id:guid}/maintenance"] = new(Host(host), new JsonObject { ["maintenance"] = true }),
            ["GET /api/hosts/{id:guid}/evacuation-plan"] = new(Host(host)),
            ["GET /api/hosts/{id:guid}/evacuation"] = new(Host(host)),
            ["POST /api/hosts/{id:guid}/evacuation/cancel"] = new(Host(host)),
            ["PUT /api/hosts/{id:guid}/unconfined"] = new(Host(host), new JsonObject { ["allowed"] = false }),
            ["PUT /api/quotas/{kind}/{name}"] = new(new Dictionary<string, string> { ["kind"] = "users", ["name"] = PaddockFixture.Fuzzed }, SmallQuota()),
            ["POST /api/requests/{id:guid}/approve"] = new(new Dictionary<string, string> { ["id"] = request.ToString() }, new JsonObject { ["raiseQuota"] = false, ["comment"] = "fuzz" }),
            ["GET /api/requests/{id:guid}"] = new(new Dictionary<string, string> { ["id"] = request.ToString() }),
            ["PUT /api/templates/{id:guid}/visibility"] = new(new Dictionary<string, string> { ["id"] = BuiltinTemplate }, new JsonObject { ["visibility"] = "Private", ["groupId"] = null }),
            ["GET /api/networks/{id:guid}"] = new(Host(network)),
            ["PUT /api/networks/{id:guid}"] = new(Host(network), new JsonObject { ["name"] = "fuzz-net", ["nat"] = true }),
        };

        var cookie = (await admin.Context.CookiesAsync()).Single(c => c.Name == "__Host-paddock");
        var caller = new FuzzCaller("admin", Cookie: $"{cookie.Name}={cookie.Value}", Admin: true);
        var routes = await FuzzRunner.RoutesAsync(paddock);
        var cases = routes
            .SelectMany(r => FuzzCases.For(r, signedIn: true, targets.GetValueOrDefault($"{r["methods"]} {r["route"]}")).Where(c => !RaisesTheFleetRamRatio(c)).Select(c => (caller, c)))
            .ToList();

        using var http = paddock.NewHttpClient();
        http.Timeout = TimeSpan.FromSeconds(30);
        var outcome = await FuzzRunner.RunAsync(http, cases);
        Console.WriteLine(outcome.Summary);

        // The fleet's settings as they were, whatever the fuzz left.
        Assert.Equal(200, (int)(await api.PutAsJsonAsync("/api/policy", targets["PUT /api/policy"].Body)).StatusCode);
        Assert.Equal(204, (int)(await api.PutAsJsonAsync("/api/policy/overcommit", overcommit)).StatusCode);
        Assert.Equal(policyBefore.ToJsonString(), (await GetObjectAsync(api, "/api/policy")).ToJsonString());
        outcome.AssertClean();

        // What the fuzz stored shows on the admins' pages encoded, and the admin is still signed in.
        var pages = routes.Where(r => (string)r["kind"]! == "page" && ((string)r["route"]!).StartsWith("/admin/", StringComparison.Ordinal)).Select(r => (string)r["route"]!).ToList();
        Assert.NotEmpty(pages);
        foreach (var page in pages.Append("/requests").Append($"/requests/{request}"))
        {
            var answer = await FuzzRunner.SendAsync(http, caller, new FuzzCase("GET", page, "afterwards"));
            Assert.True(answer.Status == 200, $"{page}: {answer.Status}");
            Assert.Null(FuzzRunner.Problem(page, answer, admin: true));
        }

        await admin.Context.CloseAsync();
    }

    /// <summary>
    /// The fleet's RAM ratio above 1 makes the e2e agent switch KSM on for the whole machine (other
    /// runs share it): those values go to the fuzz host's own policy, which the same rules check.
    /// </summary>
    private static bool RaisesTheFleetRamRatio(FuzzCase c) =>
        c.Path == "/api/policy/overcommit" && c.Why.StartsWith("field ramRatio=", StringComparison.Ordinal)
        && double.TryParse(c.Why["field ramRatio=".Length..], System.Globalization.CultureInfo.InvariantCulture, out var ratio) && ratio > 1;

    private static Dictionary<string, string> Host(Guid host) => new() { ["id"] = host.ToString() };

    private static JsonObject SmallQuota() => new()
    {
        ["limits"] = new JsonObject { ["vms"] = 1, ["vCpus"] = 1, ["memoryMiB"] = 1024, ["diskMiB"] = 10240 },
        ["maxLeaseMinutes"] = 60,
    };

    /// <summary>
    /// A request of the fuzz's own member that waits for an admin and can never be provisioned: more
    /// memory than its quota and than any host has, so approving it with or without a raised quota is refused.
    /// </summary>
    private async Task<Guid> PendingRequestAsync(HttpClient api)
    {
        Assert.Equal(200, (int)(await api.PutAsJsonAsync($"/api/quotas/users/{PaddockFixture.Fuzzed}", SmallQuota())).StatusCode);
        var member = await paddock.SignInAsync(PaddockFixture.Fuzzed);
        using var memberApi = await paddock.ApiClientAsAsync(member, paddock.PortalUrl);
        var vm = new { name = $"never-{Guid.NewGuid():N}"[..14], vCpus = 1, memoryMiB = 65536, start = false };
        using var submitted = await memberApi.PostAsJsonAsync("/api/requests", new { justification = "the admin fuzz's target", vm });
        Assert.True((int)submitted.StatusCode == 201, await submitted.Content.ReadAsStringAsync());
        var id = Guid.Parse((string)(await submitted.Content.ReadFromJsonAsync<JsonObject>())!["id"]!);
        var state = (string?)(await GetObjectAsync(api, $"/api/requests/{id}"))["state"];
        Assert.Equal("Pending", state);
        await member.Context.CloseAsync();
        return id;
    }

    /// <summary>A network of the admin's own, for the fuzz to edit past the 404 a random id gets.</summary>
    private static async Task<Guid> NetworkAsync(HttpClient api)
    {
        using var created = await api.PostAsJsonAsync("/api/networks", new { name = $"fuzz-net-{Guid.NewGuid():N}"[..16], cidr = "10.201.0.0/24" });
        Assert.True((int)created.StatusCode == 201, await created.Content.ReadAsStringAsync());
        return Guid.Parse((string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!);
    }

    private static async Task<JsonObject> GetObjectAsync(HttpClient api, string path)
    {
        using var answer = await api.GetAsync(path);
        Assert.True(answer.IsSuccessStatusCode, $"GET {path}: {(int)answer.StatusCode}");
        return (await answer.Content.ReadFromJsonAsync<JsonObject>())!;
    }
}
