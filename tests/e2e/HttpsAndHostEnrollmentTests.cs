using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Npgsql;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class HttpsAndHostEnrollmentTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Plain_http_redirects_to_https_and_the_cookies_are_host_only_secure_http_only_and_same_site()
    {
        using var http = paddock.NewHttpClient();
        using (var redirect = await http.GetAsync($"{paddock.HttpUrl}/account/login?returnUrl=%2F"))
        {
            Assert.True(redirect.StatusCode is HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect,
                $"HTTP answered {(int)redirect.StatusCode}");
            Assert.Equal($"{paddock.PortalUrl}/account/login?returnUrl=%2F", redirect.Headers.Location!.ToString());
        }

        var page = await paddock.SignInAsync(PaddockFixture.Leo);
        var cookies = await page.Context.CookiesAsync();
        Assert.NotEmpty(cookies);
        foreach (var cookie in cookies)
        {
            Assert.StartsWith("__Host-", cookie.Name);
            Assert.True(cookie.Secure, $"{cookie.Name} is not Secure");
            Assert.True(cookie.HttpOnly, $"{cookie.Name} is not HttpOnly");
            Assert.Equal("/", cookie.Path);
            Assert.True(cookie.SameSite is SameSiteAttribute.Lax or SameSiteAttribute.Strict, $"{cookie.Name} is SameSite={cookie.SameSite}");
        }

        Assert.Contains(cookies, c => c.Name == "__Host-paddock");
        Assert.Contains(cookies, c => c.Name == "__Host-paddock-antiforgery");

        // Form posts need the anti-forgery token: without it, sign-in and sign-out are refused even with the session cookie.
        using (var bare = await http.PostAsync($"{paddock.PortalUrl}/account/login",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["userName"] = PaddockFixture.Leo, ["password"] = paddock.Password })))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bare.StatusCode);
        }

        var signOut = await page.APIRequest.PostAsync("/account/logout",
            new() { Form = page.Context.APIRequest.CreateFormData().Set("from", "another site"), MaxRedirects = 0 });
        Assert.Equal(400, signOut.Status);
        await page.GotoAsync("/");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My VMs" })).ToBeVisibleAsync();

        // The portal's own sign-out form carries the token and works.
        await PaddockFixture.InteractiveAsync(page);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/account/login"));
        await page.GotoAsync("/");
        Assert.Contains("/account/login", page.Url);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_host_joins_with_a_one_time_token_and_once_revoked_is_disconnected_and_its_credential_refused()
    {
        const string hostName = "e2e-host-3";
        var dataDir = Path.Combine(paddock.DataDir, "agent3");
        if (Directory.Exists(dataDir))
        {
            Directory.Delete(dataDir, recursive: true);
        }

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/hosts");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("Note").FillAsync("third host, e2e");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Make join token" }).ClickAsync();
        var tokenField = admin.GetByLabel("Join token");
        await Assertions.Expect(tokenField).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("^pdj1\\."));
        var token = await tokenField.InputValueAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Join tokens not used yet" })).ToContainTextAsync("third host, e2e");

        var process = $"agent3-{Guid.NewGuid():N}"[..14];
        paddock.StartExtraAgent(process, hostName, dataDir, token, memoryMiB: 256);
        var state = admin.GetByLabel($"State of {hostName}");
        await Assertions.Expect(state).ToHaveTextAsync("Connected", new() { Timeout = 60_000 });
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Join tokens not used yet" })).ToHaveCountAsync(0);
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "hosts-page.png"), FullPage = true });

        // The token is spent: nobody else gets in with it.
        using var http = paddock.NewHttpClient();
        using (var again = await http.PostAsJsonAsync($"{paddock.PortalUrl}/agent/enroll", new { token, hostId = Guid.NewGuid(), name = "intruder" }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
            Assert.Contains("unknown, already used or expired", await again.Content.ReadAsStringAsync());
        }

        // The host's own credential works (an unknown image is "not found", not "who are you")...
        var credential = (await File.ReadAllTextAsync(Path.Combine(dataDir, "agent", "credential"))).Trim();
        Assert.StartsWith("pdh1.", credential);
        Assert.Equal(HttpStatusCode.NotFound, await AsHostAsync(http, credential, HttpMethod.Get, "/agent/images/no-such-image.qcow2"));
        Assert.Equal(HttpStatusCode.OK, await AsHostAsync(http, credential, HttpMethod.Post, "/hubs/hosts/negotiate?negotiateVersion=1"));

        // ...until an admin revokes the host: asked first, then disconnected at once.
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Revoke {hostName}" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Assertions.Expect(state).ToHaveTextAsync("Revoked");
        await Eventually.Async(
            () => paddock.LogOf(process).Contains("The portal does not accept this host"),
            TimeSpan.FromSeconds(60), "the revoked agent to be turned away");
        Assert.Equal(HttpStatusCode.Unauthorized, await AsHostAsync(http, credential, HttpMethod.Get, "/agent/images/no-such-image.qcow2"));
        Assert.Equal(HttpStatusCode.Unauthorized, await AsHostAsync(http, credential, HttpMethod.Post, "/hubs/hosts/negotiate?negotiateVersion=1"));
        await Assertions.Expect(state).ToHaveTextAsync("Revoked");

        await paddock.StopAgentAsync(process);

        // Through the API (what made the tokens of every other test's hosts): a token, or the field at fault.
        Assert.Equal(201, (await admin.APIRequest.PostAsync("/api/hosts/join-tokens", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { validForMinutes = 1 } })).Status);
        foreach (var (body, field) in new (object, string)[] { (new { validForMinutes = 0 }, "validForMinutes"), (new { validForMinutes = 50_000 }, "validForMinutes"), (new { note = new string('n', 201) }, "note") })
        {
            var refused = await admin.APIRequest.PostAsync("/api/hosts/join-tokens", new() { Headers = PaddockFixture.ApiHeaders, DataObject = body });
            Assert.Equal(422, refused.Status);
            Assert.True((await refused.JsonAsync())!.Value.GetProperty("errors").TryGetProperty(field, out _), await refused.TextAsync());
        }

        await admin.Context.CloseAsync();
    }

    [Fact]
    public async Task A_second_agent_with_an_unused_join_token_cannot_take_an_enrolled_hosts_id()
    {
        var hostId = Guid.Parse((await File.ReadAllTextAsync(Path.Combine(paddock.DataDir, "agent", "host-id"))).Trim());
        var credential = (await File.ReadAllTextAsync(Path.Combine(paddock.DataDir, "agent", "credential"))).Trim();
        var token = await paddock.JoinTokenAsync("impostor, e2e");

        // Asked directly: a problem with the reason, and the token stays unused.
        using var http = paddock.NewHttpClient();
        using (var taken = await http.PostAsJsonAsync($"{paddock.PortalUrl}/agent/enroll", new { token, hostId, name = "impostor" }))
        {
            Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
            Assert.Equal("application/problem+json", taken.Content.Headers.ContentType?.MediaType);
            Assert.Contains("a join token enrols a new host only", await taken.Content.ReadAsStringAsync());
        }

        // An agent whose state names that id, started with the token: turned away, the host keeps its credential.
        var dataDir = Path.Combine(paddock.DataDir, "impostor");
        if (Directory.Exists(dataDir))
        {
            Directory.Delete(dataDir, recursive: true);
        }

        Directory.CreateDirectory(Path.Combine(dataDir, "agent"));
        await File.WriteAllTextAsync(Path.Combine(dataDir, "agent", "host-id"), hostId.ToString());
        var process = $"impostor-{Guid.NewGuid():N}"[..14];
        paddock.StartExtraAgent(process, "impostor", dataDir, token, memoryMiB: 256);
        try
        {
            await Eventually.Async(
                () => paddock.LogOf(process).Contains("The portal refused the join token (409)"),
                TimeSpan.FromSeconds(60), "the impostor agent to be refused");
        }
        finally
        {
            await paddock.StopAgentAsync(process);
        }

        Assert.False(File.Exists(Path.Combine(dataDir, "agent", "credential")));
        Assert.Equal(HttpStatusCode.OK, await AsHostAsync(http, credential, HttpMethod.Post, "/hubs/hosts/negotiate?negotiateVersion=1"));
        // Both attempts are in the audit log (the agent keeps asking, slowly, until it is stopped).
        Assert.True(await AuditCountAsync("refused a join token made by % (impostor, e2e) presented for the id of enrolled host e2e-host") >= 2);
    }

    private async Task<long> AuditCountAsync(string like)
    {
        await using var db = new NpgsqlConnection(paddock.Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from paddock.mt_doc_auditentry where data->>'What' like @like", db);
        command.Parameters.AddWithValue("like", like);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<HttpStatusCode> AsHostAsync(HttpClient http, string credential, HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }
}
