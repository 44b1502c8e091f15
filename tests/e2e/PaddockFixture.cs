using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Playwright;
using Npgsql;

namespace Paddock.E2e;

/// <summary>
/// Real everything, started once for the run: the PostgreSQL the test command prepared, the portal
/// and one host agent as their own processes, and Debian's Chromium through Playwright.
/// </summary>
public sealed class PaddockFixture : IAsyncLifetime
{
    public const string AdminUser = "admin";
    public const string Alice = "alice";
    public const string Bob = "bob";
    public const string Carol = "carol";
    public const string Dave = "dave";
    public const string Erin = "erin";
    public const string Frank = "frank";
    public const string Gina = "gina";
    public const string Hank = "hank";
    public const string Ivan = "ivan";
    public const string Judy = "judy";
    public const string Kate = "kate";
    public const string Leo = "leo";
    public const string Mona = "mona";
    public const string Quinn = "quinn";
    public const string Rita = "rita";
    public const string Tara = "tara";
    public const string Ugo = "ugo";
    public const string Vera = "vera";
    public const string Wes = "wes";
    public const string Xena = "xena";
    public const string Yuri = "yuri";
    public const string Zoe = "zoe";
    public const string Pia = "pia";
    public const string Omar = "omar";
    public const string Nils = "nils";

    /// <summary>Tests set a short ticket life so that expiry can be observed.</summary>
    public static readonly TimeSpan TicketLifetime = TimeSpan.FromSeconds(2);

    /// <summary>How long a host may be away before it is Unreachable, in the tests.</summary>
    public static readonly TimeSpan HostGrace = TimeSpan.FromSeconds(10);

    private readonly List<Process> _processes = [];
    private readonly Dictionary<Process, string> _names = [];

    public string Password { get; } = "pw-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12));

    /// <summary>The portal's certificate (the test command's self-signed one) and its fingerprint, which agents and test clients trust.</summary>
    public string CertificatePath { get; } = Env("PADDOCK_TEST_CERT");

    public string CertificateSha256 { get; private set; } = "";

    private string? _agentToken;
    private string? _secondAgentToken;

    public string Connection { get; } = Env("PADDOCK_TEST_CONNECTION");

    public string DataDir { get; } = Env("PADDOCK_TEST_DATA");

    public string Artifacts { get; } = Environment.GetEnvironmentVariable("PADDOCK_TEST_ARTIFACTS") ?? Path.GetTempPath();

    /// <summary>Where the portal serves HTTPS.</summary>
    public string PortalUrl { get; private set; } = "";

    /// <summary>Where the portal answers plain HTTP (with a redirect).</summary>
    public string HttpUrl { get; private set; } = "";

    public IPlaywright Playwright { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public string VmsDir => Path.Combine(DataDir, "vms");

    public string LibraryDir => Path.Combine(DataDir, "library");

    public string ImagesDir => Path.Combine(DataDir, "images");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Artifacts);
        PortalUrl = $"https://127.0.0.1:{FreePort()}";
        HttpUrl = $"http://127.0.0.1:{FreePort()}";
        CertificateSha256 = Convert.ToHexStringLower(SHA256.HashData(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(CertificatePath).RawData));
        var portal = Env("PADDOCK_TEST_PORTAL_DLL");
        foreach (var (user, role) in new[] { (AdminUser, "admin"), (Alice, "member"), (Bob, "member"), (Carol, "member"), (Dave, "member"), (Erin, "member"), (Frank, "member"), (Gina, "member"), (Hank, "member"), (Ivan, "member"), (Judy, "member"), (Kate, "member"), (Leo, "member"), (Mona, "member"), (Quinn, "member"), (Rita, "member"), (Tara, "member"), (Ugo, "member"), (Vera, "member"), (Wes, "member"), (Xena, "member"), (Yuri, "member"), (Zoe, "member"), (Pia, "member"), (Omar, "member"), (Nils, "member") })
        {
            await RunToEndAsync(portal, ["accounts", "add", "--user", user, "--role", role], Password);
        }

        _agentToken = await JoinTokenAsync("e2e-host");
        Start("portal", portal, ["--urls", $"{PortalUrl};{HttpUrl}"], PortalEnvironment());
        await Eventually.Async(async () =>
        {
            using var http = NewHttpClient();
            return (await http.GetAsync($"{PortalUrl}/account/login")).StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(90), "the portal answers");

        StartAgent();
        await Eventually.Async(async () => await ConnectedHostsAsync() > 0, TimeSpan.FromSeconds(60), "the host agent registered");

        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        Playwright?.Dispose();
        foreach (var process in _processes)
        {
            // SIGTERM first so that the processes flush their logs, then SIGKILL.
            using var term = Process.Start("kill", ["-TERM", process.Id.ToString()]);
            await term.WaitForExitAsync();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        // VMs outlive their agent by design; the run's own must not outlive the run.
        using var pkill = Process.Start("pkill", ["-KILL", "-f", $"qemu-system-x86_64 -name guest=.*{VmsDir}"]);
        await pkill.WaitForExitAsync();
    }

    /// <summary>A signed-in browser page for <paramref name="user"/>.</summary>
    /// <remarks>
    /// Waits in these tests are for what the page shows, never for the document's load event:
    /// Blazor navigates inside the document, and the load event of the page the sign-in form lands
    /// on was seen to come late or not at all (CI, twice).
    /// </remarks>
    public async Task<IPage> SignInAsync(string user, string? password = null)
    {
        var page = await TrySignInAsync(user, password ?? Password);
        await page.WaitForURLAsync($"{PortalUrl}/", new() { WaitUntil = WaitUntilState.Commit });
        await InteractiveAsync(page);
        return page;
    }

    /// <summary>A new browser context on the portal. The certificate is the test command's self-signed one.</summary>
    public Task<IBrowserContext> NewContextAsync() =>
        Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = PortalUrl, IgnoreHTTPSErrors = true, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });

    /// <summary>An HTTP client on the portal that trusts exactly the portal's certificate, and follows no redirects.</summary>
    public HttpClient NewHttpClient() => new(new HttpClientHandler
    {
        AllowAutoRedirect = false,
        ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null && Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)) == CertificateSha256,
    }) { BaseAddress = new Uri(PortalUrl) };

    /// <summary>A one-time join token for a new host, made with the portal's command line as the run command does.</summary>
    public Task<string> JoinTokenAsync(string note) => PortalCliAsync("hosts", "join-token", "--note", note);

    /// <summary>What the portal's command line prints (stdout only; it logs to stderr).</summary>
    public Task<string> PortalCliAsync(params string[] args) => RunToEndAsync(Env("PADDOCK_TEST_PORTAL_DLL"), args, "");

    /// <summary>Submits the sign-in form in a new browser context and returns the page, wherever it landed.</summary>
    public async Task<IPage> TrySignInAsync(string user, string password, IPage? page = null)
    {
        if (page is null)
        {
            var context = await NewContextAsync();
            page = await context.NewPageAsync();
        }

        await page.GotoAsync("/account/login");
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

    /// <summary>How long a page may take to show a status that needs a guest to boot (TCG on two busy cores).</summary>
    public static readonly TimeSpan Boot = TimeSpan.FromSeconds(120);

    /// <summary>The VM page's status chip comes to say <paramref name="status"/>, pushed, without a reload.</summary>
    public static async Task ExpectStatusAsync(IPage page, string status) =>
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Status" })).ToHaveTextAsync(status, new() { Timeout = (int)Boot.TotalMilliseconds });

    /// <summary>The newest task named <paramref name="task"/> in the VM page's task list ends with an outcome containing <paramref name="outcome"/>.</summary>
    public static async Task ExpectTaskAsync(IPage page, string task, string outcome)
    {
        var row = page.GetByRole(AriaRole.Table, new() { Name = "Tasks" }).GetByRole(AriaRole.Row)
            .Filter(new() { Has = page.GetByRole(AriaRole.Cell, new() { Name = task, Exact = true }) }).First;
        await Assertions.Expect(row).ToContainTextAsync(outcome, new() { Timeout = (int)Boot.TotalMilliseconds });
    }

    /// <summary>Runs a host program to its end and returns its output; a failure fails the test with its error output.</summary>
    public static async Task<string> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} failed: {await error}");
        return (await output).Trim();
    }

    /// <summary>The header every mutating API call carries.</summary>
    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static readonly Dictionary<string, string> ApiHeaders = new() { ["X-Paddock-Api"] = "1" };

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
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && Convert.ToHexStringLower(SHA256.HashData(certificate.GetRawCertData())) == CertificateSha256;
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

    /// <summary>Presses Create in the open New VM dialog and returns the new VM's id, on its page; a screenshot shows what went wrong if it does not get there.</summary>
    public static async Task<Guid> SubmitCreateAsync(IPage page, string name)
    {
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        try
        {
            await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/vms/[0-9a-f-]{36}$"), new() { Timeout = 60_000, WaitUntil = WaitUntilState.Commit });
        }
        catch (TimeoutException)
        {
            await page.ScreenshotAsync(new() { Path = Path.Combine(Environment.GetEnvironmentVariable("PADDOCK_TEST_ARTIFACTS") ?? Path.GetTempPath(), $"create-{name}-failed.png") });
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
                var id = await CreateVmAsync(page, "carols-vm");
                await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Status" })).ToHaveTextAsync("Running", new() { Timeout = 120_000 });
                _shared = (page, id);
            }

            // Whatever an earlier test left it on, each test starts on the VM's page.
            var (shared, vmId) = _shared.Value;
            if (!shared.Url.EndsWith($"/vms/{vmId}", StringComparison.Ordinal))
            {
                await shared.GotoAsync($"/vms/{vmId}");
                await InteractiveAsync(shared);
            }

            return _shared.Value;
        }
        finally
        {
            _sharedLock.Release();
        }
    }

    /// <summary>The VM's host, as the portal placed it.</summary>
    public async Task<string> HostNameOfAsync(Guid vmId)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select h.data->>'Name' from paddock.mt_doc_vm v join paddock.mt_doc_hostrecord h on h.id = (v.data->>'HostId')::uuid where v.id = @id", db);
        command.Parameters.AddWithValue("id", vmId);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Why placement passed over each other host for the VM, as its history keeps it ("host: reason", one per line).</summary>
    public async Task<string> PassedOverAsync(Guid vmId)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select string_agg(p->>'HostName' || ': ' || (p->>'Reason'), E'\n') from paddock.mt_events e, jsonb_array_elements(e.data->'PassedOver') p where e.stream_id = @id and e.type = 'vm_placed'", db);
        command.Parameters.AddWithValue("id", vmId);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Hosts connected now that registered (again) after <paramref name="since"/>.</summary>
    public async Task<long> ConnectedHostsAsync(DateTimeOffset? since = null)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from paddock.mt_doc_hostrecord where (data->>'Connected')::boolean and (data->>'LastSeenAt')::timestamptz > @since", db);
        command.Parameters.AddWithValue("since", since ?? DateTimeOffset.MinValue.AddYears(2000));
        try
        {
            return (long)(await command.ExecuteScalarAsync())!;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    /// <summary>The VM's history as the states it went through: created (Creating), then what the agent observed.</summary>
    public async Task<string[]> HistoryOfStatesAsync(Guid vmId)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select type, data->>'State' from paddock.mt_events where stream_id = @id and type in ('vm_created', 'vm_status_observed') order by version", db);
        command.Parameters.AddWithValue("id", vmId);
        var states = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            states.Add(reader.GetString(0) == "vm_created" ? "Creating" : reader.GetString(1));
        }

        return [.. states];
    }

    /// <summary>When the agent first observed <paramref name="state"/> for the VM (its own clock, from the VM's history).</summary>
    public async Task<DateTimeOffset> FirstObservedAtAsync(Guid vmId, string state)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select (data->>'At')::timestamptz from paddock.mt_events where stream_id = @id and type = 'vm_status_observed' and data->>'State' = @state order by version limit 1", db);
        command.Parameters.AddWithValue("id", vmId);
        command.Parameters.AddWithValue("state", state);
        return new DateTimeOffset((DateTime)(await command.ExecuteScalarAsync())!, TimeSpan.Zero);
    }

    /// <summary>kill -9 of the agent alone (its VMs stay), then a new agent on the same data directory.</summary>
    public async Task<int> KillAndRestartAgentAsync()
    {
        var pid = await KillAgentAsync();
        StartAgent();
        return pid;
    }

    /// <summary>kill -9 of the agent alone; its VMs stay. Returns the agent's pid.</summary>
    public async Task<int> KillAgentAsync()
    {
        var agent = _processes.Last(p => _names[p] == "agent");
        var pid = agent.Id;
        agent.Kill(entireProcessTree: false);
        await agent.WaitForExitAsync();
        _processes.Remove(agent);
        return pid;
    }

    /// <summary>Operations whose outcome any VM's history records more than once (there must be none).</summary>
    public async Task<IReadOnlyList<string>> DuplicatedCompletionsAsync()
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select data->>'OperationId' from paddock.mt_events where type = 'vm_operation_completed' group by stream_id, data->>'OperationId' having count(*) > 1", db);
        var duplicates = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            duplicates.Add(reader.GetString(0));
        }

        return duplicates;
    }

    /// <summary>How many times the VM's history records the outcome of <paramref name="operation"/>.</summary>
    public async Task<long> CompletionsAsync(Guid vmId, Guid operation)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from paddock.mt_events where stream_id = @id and type = 'vm_operation_completed' and data->>'OperationId' = @op", db);
        command.Parameters.AddWithValue("id", vmId);
        command.Parameters.AddWithValue("op", operation.ToString());
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public void StartAgent() => Start("agent", Env("PADDOCK_TEST_AGENT_DLL"), [], new()
    {
        ["Agent__PortalUrl"] = PortalUrl,
        ["Agent__JoinToken"] = _agentToken!,
        ["Agent__PortalCertificateSha256"] = CertificateSha256,
        ["Agent__DataDir"] = DataDir,
        ["Agent__Name"] = "e2e-host",
        // The isolation proof talks to each QEMU through a second monitor of its own.
        ["Agent__TestMonitor"] = "true",
    });

    /// <summary>A second host agent on this machine with its own data directory (run directories, image cache) and less memory declared.</summary>
    public string SecondAgentDir => Path.Combine(DataDir, "agent2");

    public async Task StartSecondAgentAsync() =>
        StartExtraAgent("agent2", "e2e-host-2", SecondAgentDir, _secondAgentToken ??= await JoinTokenAsync("e2e-host-2"), memoryMiB: 1024);

    public Task StopSecondAgentAsync() => StopAgentAsync("agent2");

    /// <summary>
    /// Another host agent on this machine with its own data directory (run directories, image
    /// cache, state) and less memory declared; it powers its VMs off when it stops. Its log is
    /// <c>{process}.log</c> in the artifacts.
    /// </summary>
    public void StartExtraAgent(string process, string hostName, string dataDir, string joinToken, int memoryMiB, int? cpus = null) => Start(process, Env("PADDOCK_TEST_AGENT_DLL"), [], new()
    {
        ["Agent__DeclaredCpus"] = (cpus ?? Environment.ProcessorCount).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Agent__PortalUrl"] = PortalUrl,
        ["Agent__JoinToken"] = joinToken,
        ["Agent__PortalCertificateSha256"] = CertificateSha256,
        ["Agent__DataDir"] = dataDir,
        ["Agent__Name"] = hostName,
        ["Agent__DeclaredMemoryMiB"] = memoryMiB.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Agent__StopVmsOnExit"] = "true",
        // KSM is machine-wide: the run's first agent manages it.
        ["Agent__ManageKsm"] = "false",
    });

    /// <summary>
    /// A small ISO of the page's user in the library (the built-in template's, with a random tail
    /// so that it is a file of its own): VMs that need not boot are made from it on any host.
    /// </summary>
    public async Task<Guid> UploadIsoAsync(IPage page, string name)
    {
        var upload = await page.APIRequest.PostAsync($"/api/images?name={name}&kind=iso&format=raw", new()
        {
            Headers = new Dictionary<string, string>(ApiHeaders) { ["Content-Type"] = "application/octet-stream" },
            DataByte = [.. await File.ReadAllBytesAsync(Path.Combine(ImagesDir, "builtin-busybox.iso")), .. RandomNumberGenerator.GetBytes(2048)],
        });
        Assert.True(upload.Status == 201, await upload.TextAsync());
        return (await upload.JsonAsync())!.Value.GetProperty("id").GetGuid();
    }

    /// <summary>nobody's uid and gid on Debian.</summary>
    public const int Nobody = 65534;

    /// <summary>
    /// A host agent that runs as nobody, as on a machine where the agent is not root: it cannot
    /// give a VM an own uid. It runs its own copy of the agent's build (readable by nobody, wherever
    /// the checkout lies) on a data directory of its own, and powers its VMs off when it stops.
    /// </summary>
    public async Task StartUnprivilegedAgentAsync(string process, string hostName, string joinToken)
    {
        var build = Path.GetDirectoryName(Env("PADDOCK_TEST_AGENT_DLL"))!;
        var copy = Path.Combine(DataDir, $"{process}-build");
        var dataDir = Path.Combine(DataDir, process);
        await RunAsync("cp", "-a", "--", build + "/.", Directory.CreateDirectory(copy).FullName);
        await RunAsync("chmod", "-R", "a+rX", "--", copy);
        // The built-in template is installed on each host with the agent, as the run command does.
        var images = Directory.CreateDirectory(Path.Combine(dataDir, "images")).FullName;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(DataDir, "images"), "builtin-busybox.qcow2*"))
        {
            File.Copy(file, Path.Combine(images, Path.GetFileName(file)), overwrite: true);
        }

        await RunAsync("chown", "-R", $"{Nobody}:{Nobody}", "--", dataDir);
        Start(process, Path.Combine(copy, Path.GetFileName(Env("PADDOCK_TEST_AGENT_DLL"))), [], new()
        {
            ["HOME"] = dataDir,
            ["Agent__PortalUrl"] = PortalUrl,
            ["Agent__JoinToken"] = joinToken,
            ["Agent__PortalCertificateSha256"] = CertificateSha256,
            ["Agent__DataDir"] = dataDir,
            ["Agent__Name"] = hostName,
            ["Agent__DeclaredMemoryMiB"] = "1024",
            ["Agent__StopVmsOnExit"] = "true",
            ["Agent__ManageKsm"] = "false",
        }, runAs: Nobody);
    }

    public async Task StopAgentAsync(string process)
    {
        var agent = _processes.Last(p => _names[p] == process);
        using (var term = Process.Start("kill", ["-TERM", agent.Id.ToString()]))
        {
            await term.WaitForExitAsync();
        }

        await agent.WaitForExitAsync();
        _processes.Remove(agent);
    }

    /// <summary>
    /// A second portal process on the same database (and image library), which no agent dials:
    /// what it decides must hold together with the first. Returns its URL.
    /// </summary>
    public async Task<string> StartSecondPortalAsync()
    {
        var url = $"https://127.0.0.1:{FreePort()}";
        var environment = PortalEnvironment();
        environment["Paddock__ResetHostsOnStart"] = "false";
        Start("portal2", Env("PADDOCK_TEST_PORTAL_DLL"), ["--urls", url], environment);
        await Eventually.Async(async () =>
        {
            using var http = NewHttpClient();
            return (await http.GetAsync($"{url}/account/login")).StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(90), "the second portal answers");
        return url;
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

    /// <summary>What a process started by the fixture has logged so far.</summary>
    public string LogOf(string process)
    {
        using var stream = new FileStream(Path.Combine(Artifacts, $"{process}.log"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    private Dictionary<string, string> PortalEnvironment() => new()
    {
        ["ConnectionStrings__Paddock"] = Connection,
        ["Kestrel__Certificates__Default__Path"] = CertificatePath,
        ["Kestrel__Certificates__Default__KeyPath"] = Env("PADDOCK_TEST_KEY"),
        ["Paddock__LibraryDir"] = Path.Combine(DataDir, "library"),
        ["Paddock__Console__TicketLifetime"] = TicketLifetime.ToString(),
        // Short enough for a test to see a host turn Unreachable.
        ["Paddock__HostGrace"] = HostGrace.ToString(),
        // Short enough to see in a test; every browser here comes from one address, so that limit stays out of the way.
        ["Paddock__SignIn__AccountLockAt"] = "5",
        ["Paddock__SignIn__AddressSlowFrom"] = "1000",
        ["Paddock__SignIn__AddressLockAt"] = "10000",
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
    };

    private void Start(string name, string dll, string[] args, Dictionary<string, string> environment, int? runAs = null)
    {
        var start = new ProcessStartInfo(runAs is null ? "dotnet" : "setpriv") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (runAs is { } uid)
        {
            // setpriv execs dotnet: the process the fixture holds is the agent itself.
            foreach (var arg in new[] { "--reuid", uid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--regid", uid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--clear-groups", "--", "dotnet" })
            {
                start.ArgumentList.Add(arg);
            }
        }

        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        // A failure is read against the test log's clock: every line says when.
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        var process = Process.Start(start)!;
        var log = new StreamWriter(Path.Combine(Artifacts, $"{name}.log"), append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        _names[process] = name;
    }

    private async Task<string> RunToEndAsync(string dll, string[] args, string input)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in PortalEnvironment())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        await process.StandardInput.WriteLineAsync(input);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} failed: {await output}{await error}");
        }

        return (await output).Trim();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Env(string name) =>
        Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set: run the tests through './paddock test'.");
}

[CollectionDefinition(Name)]
public sealed class PaddockCollection : ICollectionFixture<PaddockFixture>
{
    public const string Name = "paddock";
}

/// <summary>Waits on a condition with a deadline; never a fixed sleep.</summary>
public static class Eventually
{
    public static async Task Async(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < within)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or NpgsqlException or IOException)
            {
                last = e;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"Waited {within.TotalSeconds:0} s for {what}.", last);
    }

    public static Task Async(Func<bool> condition, TimeSpan within, string what) =>
        Async(() => Task.FromResult(condition()), within, what);
}
