using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Paddock.E2e;

/// <summary>
/// It runs <c>./paddock up</c>, with a PostgreSQL, a portal and an agent of its own (its own data
/// directory, ports and network prefix): beside the other tests, not after them, as it shares nothing with them.
/// </summary>
[CollectionDefinition(Name)]
public sealed class PaddockUpTestGroup
{
    public const string Name = "paddock up";
}

/// <summary>
/// The first of the README's two commands, as a user runs it: from an empty data directory it
/// starts everything and answers on HTTPS; a portal or an agent killed with -9 is started again and
/// the terminal says so; Ctrl-C stops everything it started; a second run reuses what the first
/// made. It runs on its own instance (data directory, ports, PostgreSQL) beside the test run's, with
/// <c>PADDOCK_NO_BUILD</c> (the test run built the binaries it uses).
/// </summary>
[Collection(PaddockUpTestGroup.Name)]
public sealed class PaddockUpTests : IAsyncLifetime
{
    private static readonly string Root = Environment.GetEnvironmentVariable("PADDOCK_TEST_ROOT")
        ?? throw new InvalidOperationException("PADDOCK_TEST_ROOT is not set: run the tests through './paddock test'.");

    private readonly string _instance = $"{Path.GetFileName(Environment.GetEnvironmentVariable("PADDOCK_TEST_DATA") ?? "test")}-up";
    private readonly int _port = FreePort(), _httpPort = FreePort();

    private string Data => $"/var/lib/paddock/{_instance}";

    /// <summary>The Debian builder <see cref="WriteBuilder"/> writes, outside the data directory, and the FIFO it waits on.</summary>
    private string Builder => $"/var/lib/paddock/{_instance}-builder/build.sh";

    private string BuilderGo => $"/var/lib/paddock/{_instance}-builder/go";

    public Task InitializeAsync()
    {
        StopLeftovers();
        if (Directory.Exists(Data))
            Directory.Delete(Data, recursive: true);
        WriteBuilder();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        StopLeftovers();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Up_starts_from_nothing_restarts_a_killed_portal_and_agent_stops_all_on_ctrl_c_and_reuses_all_the_second_time()
    {
        await using (var first = Start())
        {
            var running = await first.WaitForAsync("Paddock is running at ");
            Assert.Contains($"https://127.0.0.1:{_port}", running, StringComparison.Ordinal);
            var admin = await first.WaitForAsync("first admin: admin  password: ");
            await AnswersAsync();
            await DebianTemplateBuildsInTheBackgroundAsync(admin[(admin.LastIndexOf(' ') + 1)..]);
            await Eventually.Async(() => Task.FromResult(Registrations() == 1), TimeSpan.FromSeconds(60), "the agent registers");

            // kill -9 of the portal: the terminal says so and it answers again, as another process.
            var portal = Pid("portal");
            Process.GetProcessById(portal).Kill();
            await first.WaitForAsync("the portal stopped (exit status 137); starting it again in 1 s");
            await Eventually.Async(() => Task.FromResult(Pid("portal") != portal), TimeSpan.FromSeconds(30), "a new portal process");
            await AnswersAsync();

            // kill -9 of the agent: it comes back and registers again (with its credential, not the spent token).
            var (agent, registered) = (Pid("agent"), Registrations());
            Process.GetProcessById(agent).Kill();
            await first.WaitForAsync("the agent stopped (exit status 137); starting it again in 1 s");
            await Eventually.Async(() => Task.FromResult(Pid("agent") != agent && Registrations() > registered), TimeSpan.FromSeconds(90), "the agent registers again");

            // Ctrl-C: everything it started stops, PostgreSQL last, and the command ends well.
            Assert.Equal(0, await first.InterruptAsync());
            await first.WaitForAsync("stopping");
            Assert.Empty(ProcessesOfThisInstance());
        }

        // A second run makes nothing again: the same database, admin, certificate and host credential.
        var certificate = await File.ReadAllBytesAsync(Path.Combine(Data, "secrets", "portal.crt"));
        await using var second = Start();
        await second.WaitForAsync("sign in with the admin account created on the first run");
        await AnswersAsync();
        Assert.Equal(certificate, await File.ReadAllBytesAsync(Path.Combine(Data, "secrets", "portal.crt")));
        Assert.DoesNotContain(second.Lines, l => l.Contains("initialising PostgreSQL", StringComparison.Ordinal) || l.Contains("first admin:", StringComparison.Ordinal));
        Assert.Equal(0, await second.InterruptAsync());
        Assert.Empty(ProcessesOfThisInstance());
    }

    private Terminal Start()
    {
        // As from a terminal: a session of its own (Ctrl-C reaches its whole process group) and
        // SIGINT not ignored (a test host may have inherited it ignored, and bash cannot trap it then).
        var start = new ProcessStartInfo("setsid", ["env", "--default-signal=INT", "bash", Path.Combine(Root, "paddock"), "up"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Root,
            Environment =
            {
                ["PADDOCK_INSTANCE"] = _instance,
                ["PADDOCK_PORT"] = _port.ToString(CultureInfo.InvariantCulture),
                ["PADDOCK_HTTP_PORT"] = _httpPort.ToString(CultureInfo.InvariantCulture),
                ["PADDOCK_PG_PORT"] = PostgresPort().ToString(CultureInfo.InvariantCulture),
                ["PADDOCK_NO_BUILD"] = "1",
                // The Debian template's real build (minutes of mmdebstrap) is the test run's own; DebianGuestTests covers it.
                ["PADDOCK_DEBIAN_TEMPLATE"] = "on",
                ["PADDOCK_DEBIAN_BUILDER"] = Builder,
                // Beside the run's own agents: a network prefix of its own, and KSM left to the run's first agent.
                ["Agent__NetworkPrefix"] = "u" + NetworkLetter(),
                ["Agent__ManageKsm"] = "false",
            },
        };
        return new Terminal(Process.Start(start)!);
    }

    /// <summary>
    /// While the Debian template builds (a builder that waits for the test's word, then writes the
    /// instance's busybox image as its image), the portal already answers and the Templates page
    /// says "Building…" with its New VM button off; when the image is there the page turns it ready by itself.
    /// </summary>
    private async Task DebianTemplateBuildsInTheBackgroundAsync(string adminPassword)
    {
        using var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium-headless-shell",
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new() { BaseURL = $"https://127.0.0.1:{_port}", IgnoreHTTPSErrors = true });
        await page.GotoAsync("/account/login");
        await page.GetByLabel("User name").FillAsync("admin");
        await page.GetByLabel("Password").FillAsync(adminPassword);
        await page.GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync($"https://127.0.0.1:{_port}/");
        await page.GotoAsync("/templates");
        var row = page.GetByRole(Microsoft.Playwright.AriaRole.Row).Filter(new() { HasText = "Debian 12 (cloud)" });
        var newVm = page.GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = "New VM from Debian 12 (cloud)" });
        await Microsoft.Playwright.Assertions.Expect(row).ToContainTextAsync("Building…");
        await Microsoft.Playwright.Assertions.Expect(newVm).ToBeDisabledAsync();

        await File.WriteAllTextAsync(BuilderGo, "go\n");
        await Microsoft.Playwright.Assertions.Expect(row).Not.ToContainTextAsync("Building…", new() { Timeout = 60_000 });
        await Microsoft.Playwright.Assertions.Expect(newVm).ToBeEnabledAsync();
        await Microsoft.Playwright.Assertions.Expect(row).ToContainTextAsync("SHA-256");
    }

    /// <summary>Writes the test's Debian builder: it waits on a FIFO for the test's word, then writes the instance's busybox image and its checksum.</summary>
    private void WriteBuilder()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Builder)!);
        File.Delete(BuilderGo);
        using (var mkfifo = Process.Start("mkfifo", [BuilderGo]))
            mkfifo.WaitForExit();
        var busybox = Path.Combine(Data, "images", "builtin-busybox.qcow2");
        File.WriteAllText(Builder, $$"""
            #!/bin/sh
            set -eu
            read -r word < '{{BuilderGo}}'
            cp '{{busybox}}' "$1.tmp" && mv "$1.tmp" "$1"
            cd "$(dirname "$1")" && sha256sum "$(basename "$1")" > "$1.sha256"
            """);
        File.SetUnixFileMode(Builder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private async Task AnswersAsync()
    {
        using var client = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true });
        await Eventually.Async(async () => (await client.GetAsync(new Uri($"https://127.0.0.1:{_port}/account/login"))).IsSuccessStatusCode,
            TimeSpan.FromSeconds(60), "the portal answers on HTTPS");
    }

    private int Pid(string name) =>
        int.TryParse(File.Exists(Path.Combine(Data, "run", $"{name}.pid")) ? File.ReadAllText(Path.Combine(Data, "run", $"{name}.pid")).Trim() : "", out var pid) ? pid : 0;

    private int Registrations() =>
        File.Exists(Path.Combine(Data, "logs", "agent.log"))
            ? Regex.Count(File.ReadAllText(Path.Combine(Data, "logs", "agent.log")), "Registered with the portal as ")
            : 0;

    /// <summary>Processes whose command line or environment names this instance's data directory: PostgreSQL, the portal, the agent.</summary>
    private List<string> ProcessesOfThisInstance()
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var environ = File.ReadAllText(Path.Combine(dir, "environ"));
                if (cmdline.Contains(Data + "/", StringComparison.Ordinal) || environ.Contains($"={Data}", StringComparison.Ordinal))
                    found.Add($"{Path.GetFileName(dir)}: {cmdline}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }
        return found;
    }

    /// <summary>What an earlier, failed run may have left: its processes (by data directory).</summary>
    private void StopLeftovers()
    {
        foreach (var line in ProcessesOfThisInstance())
        {
            try
            {
                Process.GetProcessById(int.Parse(line[..line.IndexOf(':', StringComparison.Ordinal)], CultureInfo.InvariantCulture)).Kill();
            }
            catch (ArgumentException)
            {
            }
        }
    }

    /// <summary>The test run's own PostgreSQL port plus 100: the same each run, apart from every instance's.</summary>
    private static int PostgresPort() =>
        int.Parse(Regex.Match(Environment.GetEnvironmentVariable("PADDOCK_TEST_CONNECTION") ?? "Port=5434", @"Port=(\d+)").Groups[1].Value, CultureInfo.InvariantCulture) + 100;

    private static char NetworkLetter() =>
        Environment.GetEnvironmentVariable("PADDOCK_NETWORK_LETTER") is [var letter and >= 'a' and <= 'z'] ? letter : 't';

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>What <c>./paddock up</c> prints, line by line, as it comes (colour codes removed).</summary>
    private sealed class Terminal : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly List<string> _lines = [];
        private readonly SemaphoreSlim _more = new(0);

        public Terminal(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => Add(e.Data);
            process.ErrorDataReceived += (_, e) => Add(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                    return [.. _lines];
            }
        }

        /// <summary>The first line containing <paramref name="text"/>, waited for up to three minutes (a first run initialises PostgreSQL and builds the template).</summary>
        public async Task<string> WaitForAsync(string text)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            while (true)
            {
                if (Lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
                    return line;
                if (_process.HasExited && Lines.All(l => !l.Contains(text, StringComparison.Ordinal)))
                {
                    await _process.WaitForExitAsync();
                    if (Lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } last)
                        return last;
                    Assert.Fail($"./paddock up ended ({_process.ExitCode}) without saying '{text}':\n{string.Join('\n', Lines)}");
                }
                try
                {
                    await _more.WaitAsync(TimeSpan.FromSeconds(1), timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"./paddock up did not say '{text}' within 3 minutes:\n{string.Join('\n', Lines)}");
                }
            }
        }

        /// <summary>Ctrl-C: SIGINT to the script's whole process group, as a terminal sends it; returns its exit status.</summary>
        public async Task<int> InterruptAsync()
        {
            await InterruptOnlyAsync();
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
                await InterruptOnlyAsync();
            _process.Dispose();
            _more.Dispose();
        }

        private async Task InterruptOnlyAsync()
        {
            using (var kill = Process.Start("kill", ["-INT", "--", $"-{_process.Id.ToString(CultureInfo.InvariantCulture)}"]))
                await kill.WaitForExitAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await _process.WaitForExitAsync(timeout.Token);
        }

        private void Add(string? line)
        {
            if (line is null)
                return;
            lock (_lines)
                _lines.Add(Regex.Replace(line, @"\x1b\[[0-9;]*m", ""));
            _more.Release();
        }
    }
}
