using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Personal API tokens: made on their page and shown once, they drive a VM's whole story with no
/// cookie and no API header; a read-only token changes nothing; no token opens a page or a console
/// or makes a token; an expired, revoked or disabled account's token gets 401 at once.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class ApiTokenTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_token_made_on_its_page_drives_a_vm_alone_and_stops_when_expired_revoked_or_its_account_disabled()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Toki);
        await page.GotoAsync("/account/tokens");
        await PaddockFixture.InteractiveAsync(page);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create token" }).ClickAsync();
        await Assertions.Expect(page.GetByText("Name: 1 to 64 characters")).ToBeVisibleAsync();
        var everything = await MakeAsync(page, "ci", readOnly: false);
        var readOnly = await MakeAsync(page, "watch", readOnly: true);
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "api-tokens.png"), FullPage = true });
        await PaddockFixture.FillExactlyAsync(page.GetByLabel("Token name"), "ci");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create token" }).ClickAsync();
        await Assertions.Expect(page.GetByText("You already have a token named 'ci'.")).ToBeVisibleAsync();

        using var api = Client(everything);
        using var watcher = Client(readOnly);
        var vmId = await StoryAsync(api);
        Assert.True(await paddock.CountAsync("select count(*) from paddock.mt_doc_auditentry where data->>'Actor' = @user and data->>'Token' = 'ci' and data->>'Kind' = 'VmOperation'",
            ("user", PaddockFixture.Toki)) >= 4, "the operations audited as toki via token ci");

        // Read-only reads; nothing changes with it; no token opens a page or a console, or makes a token.
        Assert.Equal(HttpStatusCode.OK, (await watcher.GetAsync("/api/vms")).StatusCode);
        Assert.Equal(1, await paddock.CountAsync("select count(*) from paddock.mt_doc_auditentry where data->>'Actor' = @user and data->>'Token' = 'watch' and data->>'Kind' = 'TokenUsed'",
            ("user", PaddockFixture.Toki)));
        var refused = await watcher.PostAsJsonAsync("/api/vms", new { name = "tok-ro", vCpus = 1, memoryMiB = 192 });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("read-only", await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Found, (await api.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await api.PostAsync($"/api/vms/{vmId}/console-ticket", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await api.PostAsJsonAsync("/api/tokens", new { name = "more" })).StatusCode);

        // Lists come a page at a time when asked: the next page is the Link header's.
        var first = await api.GetAsync("/api/tokens?limit=1");
        var next = first.Headers.TryGetValues("Link", out var links) ? links.Single() : "";
        Assert.Single((await first.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray());
        Assert.Matches("^</api/tokens\\?limit=1&after=[0-9a-f-]{36}>; rel=\"next\"$", next);
        var second = await api.GetAsync(next[1..next.IndexOf('>', StringComparison.Ordinal)]);
        Assert.Single((await second.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray());
        Assert.False(second.Headers.Contains("Link"));

        // Its last use shows on the page.
        await page.ReloadAsync();
        await PaddockFixture.InteractiveAsync(page);
        await Assertions.Expect(page.GetByRole(AriaRole.Row, new() { Name = "Token ci" })).Not.ToContainTextAsync("never");

        // Expired: 401, with the scheme to use.
        Assert.Equal(1, await paddock.CountAsync(
            "with e as (update paddock.mt_doc_apitoken set data = jsonb_set(data, '{ExpiresAt}', to_jsonb(now() - interval '1 minute')) where data->>'Name' = 'watch' returning 1) select count(*) from e"));
        var expired = await watcher.GetAsync("/api/vms");
        Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
        Assert.Equal("Bearer", expired.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Client("pdk_" + new string('0', 96)).GetAsync("/api/vms")).StatusCode);

        // An admin sees everyone's tokens and revokes one: it stops at once.
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/account/tokens");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Revoke token ci of {PaddockFixture.Toki}" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Row, new() { Name = $"Token ci of {PaddockFixture.Toki}" })).ToHaveCountAsync(0);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("/api/vms")).StatusCode);
        await Assertions.Expect(page.GetByRole(AriaRole.Row, new() { Name = "Token ci" })).ToHaveCountAsync(0);

        // A disabled account's tokens stop at once.
        using var last = Client(await MakeAsync(page, "last", readOnly: true));
        Assert.Equal(HttpStatusCode.OK, (await last.GetAsync("/api/vms")).StatusCode);
        await admin.GotoAsync("/admin/users");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Disable {PaddockFixture.Toki}" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Disable" }).ClickAsync();
        await Assertions.Expect(admin.GetByLabel($"State of {PaddockFixture.Toki}")).ToHaveTextAsync("Disabled");
        Assert.Equal(HttpStatusCode.Unauthorized, (await last.GetAsync("/api/vms")).StatusCode);
        await admin.Context.CloseAsync();
        await page.Context.CloseAsync();
    }

    /// <summary>Create (stopped), start, snapshot, revert, power off, delete: with the token alone, each task waited on through its Location.</summary>
    private static async Task<Guid> StoryAsync(HttpClient api)
    {
        var created = await api.PostAsJsonAsync("/api/vms", new { name = "tok-vm", vCpus = 1, memoryMiB = 192, start = false });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var vmId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        await Eventually.Async(async () => await IdleStatusAsync(api, vmId) == "Stopped", PaddockFixture.Boot, "the VM made");
        await TaskSucceedsAsync(api, await api.PostAsync($"/api/vms/{vmId}/start", null));
        Assert.Equal("Running", await IdleStatusAsync(api, vmId));
        await TaskSucceedsAsync(api, await api.PostAsJsonAsync($"/api/vms/{vmId}/snapshots", new { name = "t1" }));
        await TaskSucceedsAsync(api, await api.PostAsync($"/api/vms/{vmId}/snapshots/t1/revert", null));
        await TaskSucceedsAsync(api, await api.PostAsync($"/api/vms/{vmId}/poweroff", null));
        var deleted = await api.PostAsync($"/api/vms/{vmId}/delete", null);
        Assert.True(deleted.StatusCode == HttpStatusCode.Accepted, await deleted.Content.ReadAsStringAsync());
        await Eventually.Async(async () => (await api.GetAsync($"/api/vms/{vmId}")).StatusCode == HttpStatusCode.NotFound, PaddockFixture.Boot, "the VM gone");
        return vmId;
    }

    private static async Task TaskSucceedsAsync(HttpClient api, HttpResponseMessage accepted)
    {
        Assert.True(accepted.StatusCode == HttpStatusCode.Accepted, $"{accepted.RequestMessage?.RequestUri}: {await accepted.Content.ReadAsStringAsync()}");
        var location = accepted.Headers.Location!.ToString();
        var state = "";
        await Eventually.Async(async () =>
        {
            state = (await api.GetFromJsonAsync<JsonElement>(location)).GetProperty("state").GetString()!;
            return state != "Running";
        }, PaddockFixture.Boot, $"the task at {location} to end");
        Assert.True(state == "Succeeded", $"{location}: {state}");
    }

    private static async Task<string?> IdleStatusAsync(HttpClient api, Guid vmId)
    {
        var vm = await api.GetFromJsonAsync<JsonElement>($"/api/vms/{vmId}");
        return vm.GetProperty("pendingOperation").ValueKind == JsonValueKind.Null ? vm.GetProperty("status").GetString() : null;
    }

    /// <summary>Makes a token on the open tokens page and reads it from where it is shown once.</summary>
    private static async Task<string> MakeAsync(IPage page, string name, bool readOnly)
    {
        await PaddockFixture.FillExactlyAsync(page.GetByLabel("Token name"), name);
        if (readOnly)
        {
            await page.GetByLabel("Scope").ClickAsync();
            await page.GetByRole(AriaRole.Option, new() { Name = "Read-only" }).ClickAsync();
            // The choice must have reached the form before Create reads it (a busy machine made an "everything" token once).
            await Assertions.Expect(page.GetByLabel("Scope")).ToContainTextAsync("Read-only");
        }

        await page.GetByRole(AriaRole.Button, new() { Name = "Create token" }).ClickAsync();
        await Assertions.Expect(page.GetByText($"Token '{name}' is made.")).ToBeVisibleAsync();
        var text = await page.GetByLabel("Your new token").InputValueAsync();
        Assert.StartsWith("pdk_", text);
        await Assertions.Expect(page.GetByRole(AriaRole.Row, new() { Name = $"Token {name}" })).ToContainTextAsync(readOnly ? "read-only" : "everything");
        return text;
    }

    private HttpClient Client(string token)
    {
        var http = paddock.NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }
}
