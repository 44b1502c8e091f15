using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>What one tenant cannot do to another, and what a console ticket does not allow.</summary>
[Collection(PaddockCollection.Name)]
public sealed class WallsAndTicketsTests(PaddockFixture paddock) : IAsyncLifetime
{
    private IPage _carol = null!;
    private Guid _vmId;

    public async Task InitializeAsync() => (_carol, _vmId) = await paddock.CarolsRunningVmAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static readonly APIRequestContextOptions Api = new() { Headers = PaddockFixture.ApiHeaders };

    [Fact]
    public async Task Another_member_gets_the_same_404_for_a_foreign_vm_as_for_a_random_id()
    {
        var bob = await paddock.SignInAsync(PaddockFixture.Bob);
        var random = Guid.NewGuid();
        foreach (var path in new[] { "/vms/{0}", "/vms/{0}/console" })
        {
            var foreign = await bob.GotoAsync(string.Format(path, _vmId));
            await PaddockFixture.InteractiveAsync(bob);
            await bob.GetByRole(AriaRole.Heading, new() { Name = "Not found" }).WaitForAsync();
            var foreignText = await bob.Locator("main").InnerTextAsync();
            var missing = await bob.GotoAsync(string.Format(path, random));
            await PaddockFixture.InteractiveAsync(bob);
            await bob.GetByRole(AriaRole.Heading, new() { Name = "Not found" }).WaitForAsync();
            var missingText = await bob.Locator("main").InnerTextAsync();
            Assert.Equal(404, foreign!.Status);
            Assert.Equal(404, missing!.Status);
            Assert.Equal(missingText, foreignText);
            Assert.DoesNotContain("carols-vm", foreignText);
        }

        var foreignTicket = await bob.APIRequest.PostAsync($"/api/vms/{_vmId}/console-ticket", Api);
        var missingTicket = await bob.APIRequest.PostAsync($"/api/vms/{random}/console-ticket", Api);
        Assert.Equal(404, foreignTicket.Status);
        Assert.Equal(404, missingTicket.Status);
        Assert.Equal(await WithoutTraceAsync(missingTicket), await WithoutTraceAsync(foreignTicket));

        // Bob's own list does not show Carol's VM.
        await bob.GotoAsync("/");
        Assert.DoesNotContain("carols-vm", await bob.Locator("main").InnerTextAsync());
        await bob.Context.CloseAsync();
    }

    [Fact]
    public async Task Api_answers_bad_input_and_refusals_with_problem_details_and_foreign_vms_with_404()
    {
        var api = _carol.APIRequest;
        var noHeader = await api.PostAsync("/api/vms", new() { DataObject = new { name = "x", vCpus = 1, memoryMiB = 256 } });
        Assert.Equal(400, noHeader.Status);
        Assert.Contains("X-Paddock-Api", await noHeader.TextAsync());

        var bad = await api.PostAsync("/api/vms", new() { DataObject = new { name = "", vCpus = 0, memoryMiB = 256 }, Headers = Api.Headers });
        Assert.Equal(422, bad.Status);
        Assert.StartsWith("application/problem+json", bad.Headers["content-type"]);
        var problem = (await bad.JsonAsync())!.Value;
        Assert.Equal("Name: required.", problem.GetProperty("errors").GetProperty("name")[0].GetString());

        var refused = await api.PostAsync($"/api/vms/{_vmId}/start", Api);
        Assert.Equal(409, refused.Status);
        Assert.Equal("Start needs the VM Stopped or Crashed; it is Running.", (await refused.JsonAsync())!.Value.GetProperty("title").GetString());

        var taken = await api.PostAsync("/api/vms", new() { DataObject = new { name = "carols-vm", vCpus = 1, memoryMiB = 256 }, Headers = Api.Headers });
        Assert.Equal(422, taken.Status);
        Assert.Equal("Name: you already have a VM called 'carols-vm'.",
            (await taken.JsonAsync())!.Value.GetProperty("errors").GetProperty("name")[0].GetString());

        var bob = await paddock.SignInAsync(PaddockFixture.Bob);

        // A person's cookie opens nothing on the agents' side.
        Assert.Equal(401, (await bob.APIRequest.PostAsync("/hubs/hosts/negotiate?negotiateVersion=1")).Status);
        var libraryFile = $"{new string('a', 64)}.iso";
        Assert.Equal(401, (await bob.APIRequest.GetAsync($"/agent/images/{libraryFile}")).Status);
        Assert.Equal(401, (await bob.APIRequest.PutAsync($"/agent/images/{libraryFile}", new() { DataByte = [1, 2, 3] })).Status);
        Assert.Equal(401, (await bob.APIRequest.GetAsync("/console/agent/some-nonce")).Status);

        var foreign = await bob.APIRequest.PostAsync($"/api/vms/{_vmId}/poweroff", Api);
        var random = await bob.APIRequest.PostAsync($"/api/vms/{Guid.NewGuid()}/poweroff", Api);
        Assert.Equal(404, foreign.Status);
        Assert.Equal(await WithoutTraceAsync(random), await WithoutTraceAsync(foreign));
        Assert.Equal(404, (await bob.APIRequest.GetAsync($"/api/vms/{_vmId}")).Status);
        await bob.Context.CloseAsync();
    }

    [Fact]
    public async Task A_member_cannot_open_admin_pages_and_an_admin_sees_the_host_and_its_accelerator()
    {
        var bob = await paddock.SignInAsync(PaddockFixture.Bob);
        await bob.GotoAsync("/admin/hosts");
        await Assertions.Expect(bob.GetByRole(AriaRole.Heading, new() { Name = "No access" })).ToBeVisibleAsync();
        Assert.Equal(0, await bob.GetByRole(AriaRole.Table, new() { Name = "Hosts" }).CountAsync());
        Assert.Equal(0, await bob.GetByRole(AriaRole.Link, new() { Name = "Hosts" }).CountAsync());
        await bob.Context.CloseAsync();

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GetByRole(AriaRole.Link, new() { Name = "Hosts" }).ClickAsync();
        var hosts = admin.GetByRole(AriaRole.Table, new() { Name = "Hosts" });
        await Assertions.Expect(hosts).ToContainTextAsync("e2e-host");
        await Assertions.Expect(hosts).ToContainTextAsync("Connected");
        // This machine's /dev/kvm cannot run ordinary guests: the probe must say TCG and warn.
        await Assertions.Expect(hosts).ToContainTextAsync("tcg");
        await Assertions.Expect(admin.GetByRole(AriaRole.Alert).First).ToContainTextAsync("TCG");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "hosts.png") });
        await admin.Context.CloseAsync();
    }

    [Fact]
    public async Task Pages_send_security_headers_and_the_consoles_keep_to_the_content_security_policy()
    {
        var (carol, vmId) = await paddock.CarolsRunningVmAsync();
        var page = await carol.Context.NewPageAsync();
        var violations = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                violations.Add(message.Text);
            }
        };
        page.PageError += (_, error) => violations.Add(error);

        var response = await page.GotoAsync("/");
        var headers = await response!.AllHeadersAsync();
        Assert.Contains("script-src 'self'", headers["content-security-policy"]);
        Assert.Contains("frame-ancestors 'none'", headers["content-security-policy"]);
        Assert.Equal("nosniff", headers["x-content-type-options"]);
        Assert.Equal("DENY", headers["x-frame-options"]);

        // The pages with the most moving parts: noVNC, MudBlazor dialogs and uploads. (xterm.js runs
        // under the same policy in the serial console test; Carol's serial port takes one client at a time.)
        await page.GotoAsync($"/vms/{vmId}/console");
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        foreach (var path in new[] { $"/vms/{vmId}", "/templates", "/images" })
        {
            await page.GotoAsync(path);
            await PaddockFixture.InteractiveAsync(page);
        }

        await page.GetByRole(AriaRole.Link, new() { Name = "My VMs" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "New VM" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Dialog)).ToBeVisibleAsync();
        Assert.Empty(violations);
        await page.CloseAsync();
    }

    [Fact]
    public async Task A_console_ticket_works_once_from_the_portals_origin_and_never_after_expiry()
    {
        var origin = paddock.PortalUrl;

        // A good ticket opens the VM's VNC stream: QEMU's RFB greeting comes through the relay.
        var ticket = await TicketAsync();
        using (var socket = await OpenAsync(ticket, origin))
        {
            Assert.NotNull(socket);
            var greeting = new byte[12];
            var received = await socket!.ReceiveAsync(greeting, CancellationToken.None);
            Assert.StartsWith("RFB 003.", Encoding.ASCII.GetString(greeting, 0, received.Count));
        }

        // Used twice: refused.
        Assert.Null(await OpenAsync(ticket, origin));

        // Foreign or missing Origin: refused, and the ticket is not spent by the refusal of the Origin.
        var fresh = await TicketAsync();
        Assert.Null(await OpenAsync(fresh, "http://evil.example"));
        Assert.Null(await OpenAsync(fresh, null));

        // Expired: refused.
        var stale = await TicketAsync();
        await Task.Delay(PaddockFixture.TicketLifetime + TimeSpan.FromSeconds(1));
        Assert.Null(await OpenAsync(stale, origin));

        // Two simultaneous upgrades with one ticket: exactly one wins.
        var contested = await TicketAsync();
        var both = await Task.WhenAll(OpenAsync(contested, origin), OpenAsync(contested, origin));
        Assert.Equal(1, both.Count(s => s is not null));
        foreach (var socket in both)
        {
            socket?.Dispose();
        }

        // Expired tickets, used or not, do not stay in the database.
        await Eventually.Async(async () => await StoredTicketsAsync(ticket, fresh, stale) == 0, TimeSpan.FromSeconds(30), "expired tickets are purged");
    }

    [Fact]
    public async Task A_portal_on_a_machine_whose_clock_is_two_hours_ahead_keeps_the_databases_time()
    {
        var skewed = await paddock.StartSecondPortalAsync(new Dictionary<string, string>
        {
            ["LD_PRELOAD"] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
            ["FAKETIME"] = "+2h",
            ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1",
        }, process: "portal-skewed");
        try
        {
            // Its machine's clock is two hours ahead: the Date it answers with.
            using var api = await paddock.ApiClientAsAsync(_carol, skewed);
            using var answer = await api.PostAsync($"/api/vms/{_vmId}/console-ticket?kind=Vnc", null);
            Assert.True(answer.Headers.Date - DateTimeOffset.UtcNow > TimeSpan.FromMinutes(110), $"The skewed portal answered with Date: {answer.Headers.Date}");

            // A ticket it issues expires by the database's clock: used at once through the other portal
            // it opens the console; used after its lifetime it is refused (by its own clock it had two hours).
            Assert.NotNull(await OpenAsync(await TicketOfAsync(answer), paddock.PortalUrl));
            using var later = await api.PostAsync($"/api/vms/{_vmId}/console-ticket?kind=Vnc", null);
            var stale = await TicketOfAsync(later);
            await Task.Delay(PaddockFixture.TicketLifetime + TimeSpan.FromSeconds(1));
            Assert.Null(await OpenAsync(stale, paddock.PortalUrl));
        }
        finally
        {
            await paddock.StopAgentAsync("portal-skewed");
        }
    }

    private static async Task<string> TicketOfAsync(HttpResponseMessage answer)
    {
        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
        return JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("ticket").GetString()!;
    }

    /// <summary>How many of these tickets the portal still stores (it keeps only their SHA-256).</summary>
    private async Task<long> StoredTicketsAsync(params string[] tickets)
    {
        await using var connection = new Npgsql.NpgsqlConnection(paddock.Connection);
        await connection.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand("select count(*) from paddock.mt_doc_consoleticket where id = any(@ids)", connection);
        count.Parameters.AddWithValue("ids", tickets.Select(t => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(t)))).ToArray());
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>A problem response without its per-request trace id, to compare two answers.</summary>
    private static async Task<string> WithoutTraceAsync(IAPIResponse response)
    {
        var body = System.Text.Json.Nodes.JsonNode.Parse(await response.TextAsync())!.AsObject();
        body.Remove("traceId");
        return $"{response.Status} {body.ToJsonString()}";
    }

    private Task<string> TicketAsync() => PaddockFixture.ConsoleTicketAsync(_carol, _vmId);

    private Task<System.Net.WebSockets.ClientWebSocket?> OpenAsync(string ticket, string? origin) =>
        paddock.OpenConsoleAsync(_carol, $"/console/{_vmId}/ws?ticket={Uri.EscapeDataString(ticket)}", origin);
}
