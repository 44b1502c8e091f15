using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>Browser pages and API calls as a signed-in user: sign-in, the VM pages, consoles, uploads.</summary>
public sealed partial class PaddockFixture
{
    /// <summary>A signed-in browser page for <paramref name="user"/>.</summary>
    /// <remarks>
    /// Waits in these tests are for what the page shows, never for the document's load event:
    /// Blazor navigates inside the document, and the load event of the page the sign-in form lands
    /// on was seen to come late or not at all (CI, twice).
    /// The form is posted from the page's own request context (its cookies are the page's), not
    /// typed into a rendered sign-in page: that page's load, styles and scripts cost Chromium as much
    /// as the page the test came for, for every one of the run's hundreds of sign-ins. The form
    /// itself is driven where it is the subject (SignInTests, FuzzTests, and AccountTests through
    /// <see cref="TrySignInAsync"/>).
    /// </remarks>
    public async Task<IPage> SignInAsync(string user, string? password = null)
    {
        var context = await NewContextAsync();
        var page = await context.NewPageAsync();
        var form = await (await context.APIRequest.GetAsync(AccountsLoginPath)).TextAsync();
        var token = AntiforgeryField().Match(form);
        Assert.True(token.Success, "the sign-in page holds no antiforgery token");
        var fields = context.APIRequest.CreateFormData();
        fields.Set("__RequestVerificationToken", WebUtility.HtmlDecode(token.Groups[1].Value));
        fields.Set("userName", user);
        fields.Set("password", password ?? Password);
        var answer = await context.APIRequest.PostAsync(AccountsLoginPath, new() { Form = fields, MaxRedirects = 0 });
        Assert.True(answer.Status == 302 && answer.Headers.GetValueOrDefault("location") == "/",
            $"signing in as {user} answered {answer.Status} to {answer.Headers.GetValueOrDefault("location")}");
        await page.GotoAsync("/", new() { WaitUntil = WaitUntilState.Commit });
        await LandsOnAsync(page, $"^{Regex.Escape(PortalUrl)}/$");
        await InteractiveAsync(page);
        return page;
    }

    private const string AccountsLoginPath = "/account/login";

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    /// <summary>The page's address comes to match <paramref name="pattern"/>; the document need not have loaded.</summary>
    /// <remarks>
    /// Not <c>WaitForURLAsync</c>: when the address already matches, it waits for the load event
    /// even with <c>WaitUntil = Commit</c> (Playwright maps Commit to no state, and no state means
    /// Load), and that event was seen to come late or not at all (CI, two sign-ins).
    /// </remarks>
    public static Task LandsOnAsync(IPage page, string pattern, int timeout = 30_000) =>
        Assertions.Expect(page).ToHaveURLAsync(new Regex(pattern), new() { Timeout = timeout });

    /// <summary>A new browser context on the portal, closed when the test that opened it ends. The certificate is the test command's self-signed one.</summary>
    public async Task<IBrowserContext> NewContextAsync()
    {
        var context = await Browser.NewContextAsync(
            new BrowserNewContextOptions { BaseURL = PortalUrl, IgnoreHTTPSErrors = true, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        await context.AddInitScriptAsync(StillPages);
        lock (_openContexts)
        {
            _openContexts.Add(context);
        }

        return context;
    }

    private readonly List<IBrowserContext> _openContexts = [];

    /// <summary>
    /// Pages in the tests do not animate: Chromium's software rasterizer (no GPU here) redraws an
    /// indeterminate progress bar every frame for as long as it shows, and Playwright waits for a
    /// sliding dialog or menu to stand still before it clicks. MudBlazor's
    /// script waits for no transition or animation to end, so nothing waits for one that never runs.
    /// </summary>
    private const string StillPages =
        "addEventListener('DOMContentLoaded', () => { const style = document.createElement('style'); "
        + "style.textContent = '*, *::before, *::after { animation: none !important; transition: none !important; }'; "
        + "document.head.appendChild(style); });";

    /// <summary>Leaves <paramref name="context"/> open after the test that opened it: it is the run's (Carol's shared page).</summary>
    private void KeepOpen(IBrowserContext context)
    {
        lock (_openContexts)
        {
            _openContexts.Remove(context);
        }
    }

    /// <summary>
    /// Closes every browser context the ended test opened (<see cref="ClosePagesAfterEachTestAttribute"/>):
    /// a page left open keeps a renderer busy in Chromium and a live circuit in the portal, which
    /// re-renders it on every change, for the rest of the run (15 renderers after five classes).
    /// </summary>
    public async Task CloseContextsAsync()
    {
        IBrowserContext[] open;
        lock (_openContexts)
        {
            open = [.. _openContexts];
            _openContexts.Clear();
        }

        foreach (var context in open)
        {
            foreach (var page in context.Pages)
            {
                await LeaveAsync(page);
            }

            await context.CloseAsync();
        }
    }

    /// <summary>
    /// Leaves the page as a person would, so that Blazor tells the portal its circuit is over (a
    /// beacon on unload): a page just closed leaves the circuit waiting three minutes for it to come
    /// back, re-rendering on every change meanwhile.
    /// </summary>
    private static async Task LeaveAsync(IPage page)
    {
        try
        {
            await page.GotoAsync("about:blank", new() { Timeout = 5_000 });
        }
        catch (Exception e) when (e is PlaywrightException or System.TimeoutException)
        {
            // A page that cannot navigate any more (its portal killed, a dialog up) is closed as it is.
        }
    }

    /// <summary>An HTTP client on the portal that trusts exactly the portal's certificate, and follows no redirects.</summary>
    public HttpClient NewHttpClient() => new(new HttpClientHandler
    {
        AllowAutoRedirect = false,
        ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null
            && Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)) == CertificateSha256,
    }) { BaseAddress = new Uri(PortalUrl) };

    /// <summary>Submits the sign-in form in a new browser context and returns the page, wherever it landed.</summary>
    public async Task<IPage> TrySignInAsync(string user, string password, IPage? page = null)
    {
        if (page is null)
        {
            var context = await NewContextAsync();
            page = await context.NewPageAsync();
        }

        await page.GotoAsync(AccountsLoginPath);
        await page.GetByLabel("User name").FillAsync(user);
        await page.GetByLabel("Password").FillAsync(password);
        // The form posts and is answered with a redirect: wait for the document it lands on to be
        // parsed, not for every subresource's load (the circuit is what SignInAsync waits for next).
        // Every outcome redirects somewhere with another address than the bare form's.
        var form = page.Url;
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(url => url != form, new() { WaitUntil = WaitUntilState.DOMContentLoaded });
        return page;
    }

    /// <summary>
    /// Fills a field and sees it hold exactly <paramref name="text"/>, filling again if not: a
    /// re-render of the field between Playwright's select-all and its typing was seen to leave the
    /// old text in front of the new (an edit dialog's name field, once).
    /// </summary>
    public static async Task FillExactlyAsync(ILocator field, string text)
    {
        for (var attempt = 1; ; attempt++)
        {
            await field.FillAsync(text);
            try
            {
                await Assertions.Expect(field).ToHaveValueAsync(text, new() { Timeout = 2_000 });
                return;
            }
            catch (PlaywrightException) when (attempt < 3)
            {
            }
        }
    }

    /// <summary>The anti-forgery token in a sign-in form's HTML, for a script that posts the form.</summary>
    public static string FormToken(string html) => System.Net.WebUtility.HtmlDecode(TokenField().Match(html).Groups[1].Value);

    /// <summary>The sign-in form's fields as a script posts them, with the token of the form it read.</summary>
    public static FormUrlEncodedContent SignInForm(string token, string user, string password) => new(new Dictionary<string, string>
    {
        ["__RequestVerificationToken"] = token,
        ["userName"] = user,
        ["password"] = password,
        ["returnUrl"] = "/",
    });

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex TokenField();

    /// <summary>How long a page may take to show a status that needs a guest to boot (TCG on two busy cores).</summary>
    public static readonly TimeSpan Boot = TimeSpan.FromSeconds(120);

    /// <summary>The VM page's status chip comes to say <paramref name="status"/>, pushed, without a reload.</summary>
    public static async Task ExpectStatusAsync(IPage page, string status) =>
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Status" }))
            .ToHaveTextAsync(status, new() { Timeout = (int)Boot.TotalMilliseconds });

    /// <summary>The newest task named <paramref name="task"/> in the VM page's task list ends with an outcome containing <paramref name="outcome"/>.</summary>
    public static async Task ExpectTaskAsync(IPage page, string task, string outcome)
    {
        var row = page.GetByRole(AriaRole.Table, new() { Name = "Tasks" }).GetByRole(AriaRole.Row)
            .Filter(new() { Has = page.GetByRole(AriaRole.Cell, new() { Name = task, Exact = true }) }).First;
        await Assertions.Expect(row).ToContainTextAsync(outcome, new() { Timeout = (int)Boot.TotalMilliseconds });
    }

    /// <summary>The header every mutating API call carries.</summary>
    public static readonly Dictionary<string, string> ApiHeaders = new() { ["X-Paddock-Api"] = "1" };

    /// <summary>Puts the host in maintenance (no VM is placed there) or takes it out, as the admin of <paramref name="admin"/>.</summary>
    public static async Task MaintenanceAsync(IPage admin, Guid host, bool on) =>
        Assert.Equal(204, (await admin.APIRequest.PutAsync($"/api/hosts/{host}/maintenance",
            new() { Headers = ApiHeaders, DataObject = new { maintenance = on } })).Status);

    /// <summary>The VM's status as the API tells it to the page's user.</summary>
    public static async Task<string?> VmStatusAsync(IPage page, Guid vmId) =>
        (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())?.GetProperty("status").GetString();

    /// <summary>
    /// The VM's status once no task holds it, or null while one does: the status turns Stopped a
    /// moment before the Power off task ends, and an operation asked for in between is refused as
    /// "in progress".
    /// </summary>
    public static async Task<string?> IdleStatusAsync(IPage page, Guid vmId)
    {
        var vm = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;
        return vm.GetProperty("pendingOperation").ValueKind == System.Text.Json.JsonValueKind.Null ? vm.GetProperty("status").GetString() : null;
    }

    /// <summary>Waits until the VM runs and its Create task has ended too (the status turns Running a moment before it does).</summary>
    public static Task RunningAndIdleAsync(IPage page, Guid vmId) =>
        Eventually.Async(async () =>
        {
            var vm = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;
            return vm.GetProperty("status").GetString() == "Running" && vm.GetProperty("pendingOperation").ValueKind == System.Text.Json.JsonValueKind.Null;
        }, Boot, "the VM to run, its task done");

    /// <summary>A console ticket of the page's user for the VM (kind "vnc" or "serial").</summary>
    public static async Task<string> ConsoleTicketAsync(IPage page, Guid vmId, string kind = "vnc") =>
        (await (await page.APIRequest.PostAsync($"/api/vms/{vmId}/console-ticket?kind={kind}", new() { Headers = ApiHeaders })).JsonAsync())!.Value
            .GetProperty("ticket").GetString()!;

    /// <summary>Opens a console socket as the page's user (its cookies) with the given Origin; null when the portal refuses the upgrade.</summary>
    public async Task<System.Net.WebSockets.ClientWebSocket?> OpenConsoleAsync(IPage page, string path, string? origin)
    {
        var cookies = await page.Context.CookiesAsync();
        var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null
            && Convert.ToHexStringLower(SHA256.HashData(certificate.GetRawCertData())) == CertificateSha256;
        socket.Options.SetRequestHeader("Cookie", string.Join("; ", cookies.Select(c => $"{c.Name}={c.Value}")));
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        try
        {
            await socket.ConnectAsync(new Uri($"{PortalUrl.Replace("http", "ws")}{path}"), CancellationToken.None);
            return socket;
        }
        catch (System.Net.WebSockets.WebSocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>Waits until the page's Blazor circuit is up: a click on a prerendered page is lost.</summary>
    public static async Task InteractiveAsync(IPage page) =>
        // Generous: right after the heaviest tests (a thousand creates) two busy cores were seen to take over 30 s.
        await page.Locator("[data-circuit=on]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 60_000 });

    /// <summary>Creates a VM through the UI as the signed-in user of <paramref name="page"/> and returns its id, on its page.</summary>
    public static async Task<Guid> CreateVmAsync(IPage page, string name)
    {
        await page.GetByRole(AriaRole.Button, new() { Name = "New VM" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name").FillAsync(name);
        await dialog.GetByLabel("vCPUs").FillAsync("1");
        await dialog.GetByLabel("Memory (MiB)").FillAsync("256");
        return await SubmitCreateAsync(page, name);
    }

    /// <summary>
    /// Presses Create in the open New VM dialog and returns the new VM's id, on its page; a screenshot
    /// shows what went wrong if it does not get there.
    /// </summary>
    public static async Task<Guid> SubmitCreateAsync(IPage page, string name)
    {
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        try
        {
            await LandsOnAsync(page, "/vms/[0-9a-f-]{36}$", 60_000);
        }
        catch (PlaywrightException)
        {
            await page.ScreenshotAsync(
                new() { Path = Path.Combine(Environment.GetEnvironmentVariable("PADDOCK_TEST_ARTIFACTS") ?? Path.GetTempPath(), $"create-{name}-failed.png") });
            throw;
        }

        return Guid.Parse(page.Url[^36..]);
    }

    private readonly SemaphoreSlim _sharedLock = new(1, 1);
    private (IPage Page, Guid VmId)? _shared;

    /// <summary>
    /// One running VM of <see cref="Carol"/>'s for every test that needs a VM without looking at
    /// its guest: booted once for the run.
    /// </summary>
    public async Task<(IPage Page, Guid VmId)> CarolsRunningVmAsync()
    {
        await _sharedLock.WaitAsync();
        try
        {
            if (_shared is null)
            {
                var page = await SignInAsync(Carol);
                KeepOpen(page.Context);
                var id = await CreateVmAsync(page, "carols-vm");
                await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Status" })).ToHaveTextAsync("Running", new() { Timeout = 120_000 });
                _shared = (page, id);
            }

            // Whatever an earlier test left it on, each test starts on the VM's page, with the VM running
            // (a test that empties the host powers it off, and starts it again after).
            var (shared, vmId) = _shared.Value;
            await Eventually.Async(async () => await IdleStatusAsync(shared, vmId) is not null, Boot, "Carol's VM idle");
            if (await IdleStatusAsync(shared, vmId) is not "Running")
            {
                await VmApi.PowerAsync(shared, vmId, "start", "Running");
            }

            // Loaded afresh every time: a portal killed since (the fault suite kills it five times)
            // took the page's circuit along, and a page on a dead circuit still shows its last words.
            await shared.GotoAsync($"/vms/{vmId}");
            await InteractiveAsync(shared);

            return _shared.Value;
        }
        finally
        {
            _sharedLock.Release();
        }
    }

    /// <summary>
    /// A small ISO of the page's user in the library (the built-in template's, with a random tail
    /// so that it is a file of its own): VMs that need not boot are made from it on any host.
    /// </summary>
    public async Task<Guid> UploadIsoAsync(IPage page, string name)
    {
        var (status, body) = await UploadAsync(page, $"name={name}&kind=iso&format=raw",
            [.. await File.ReadAllBytesAsync(Path.Combine(ImagesDir, "builtin-busybox.iso")), .. RandomNumberGenerator.GetBytes(2048)]);
        Assert.True(status == 201, body);
        return JsonSerializer.Deserialize<JsonElement>(body).GetProperty("id").GetGuid();
    }

    /// <summary>
    /// POSTs <paramref name="content"/> to <c>/api/images?{query}</c> as <paramref name="page"/>'s
    /// user; returns the status and body. Straight over HTTP, not through the browser's request
    /// context: Playwright hands a body to its driver as JSON-encoded bytes, seconds for an ISO.
    /// </summary>
    public async Task<(int Status, string Body)> UploadAsync(IPage page, string query, byte[] content)
    {
        using var http = await ApiClientAsAsync(page, PortalUrl);
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new("application/octet-stream");
        using var response = await http.PostAsync($"/api/images?{query}", body);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>An API client on <paramref name="baseUrl"/> carrying the sign-in cookie of <paramref name="page"/>'s user.</summary>
    public async Task<HttpClient> ApiClientAsAsync(IPage page, string baseUrl)
    {
        var cookie = (await page.Context.CookiesAsync()).Single(c => c.Name == "__Host-paddock");
        var http = NewHttpClient();
        http.BaseAddress = new Uri(baseUrl);
        http.DefaultRequestHeaders.Add("Cookie", $"{cookie.Name}={cookie.Value}");
        http.DefaultRequestHeaders.Add("X-Paddock-Api", "1");
        return http;
    }
}
