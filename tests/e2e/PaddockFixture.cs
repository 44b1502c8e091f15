using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Real everything, started once for the run: the PostgreSQL the test command prepared, the portal
/// and one host agent as their own processes, and Debian's Chromium (its headless shell) through Playwright.
/// </summary>
public sealed partial class PaddockFixture : IAsyncLifetime, IDisposable
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
    public const string Mallory = "mallory";
    public const string Sam = "sam";
    public const string Tess = "tess";
    public const string Ada = "ada";
    public const string Olga = "oona";
    public const string Pete = "pete";
    public const string Fuzzy = "fuzzy";
    public const string Otto = "otto";
    public const string Stan = "stan";

    /// <summary>The admin fuzz's target (AdminFuzzTests): its quota is set and its request decided with hostile values.</summary>
    public const string Fuzzed = "fuzzed";

    /// <summary>Owns the VMs that migrate between hosts (MigrationTests).</summary>
    public const string Mira = "mira";

    /// <summary>Owns the VMs that leave a host in maintenance and come back (MaintenanceTests).</summary>
    public const string Maud = "maud";

    /// <summary>Guessed at in parallel until locked (SignInTests): nobody else signs in as her.</summary>
    public const string Gus = "gus";

    /// <summary>Owns the networks of NetworkTests; <see cref="Niko"/> is the stranger to them, <see cref="Nuri"/> meets the network quota.</summary>
    public const string Neta = "neta";

    public const string Niko = "niko";

    public const string Nuri = "nuri";

    /// <summary>Owns two VMs that talk on her default network, across hosts too (TenantNetworkTests); <see cref="Noor"/> is another tenant with the same CIDR.</summary>
    public const string Nell = "nell";

    public const string Noor = "noor";

    /// <summary>Owns the VM whose history outgrows a page (TaskHistoryTests).</summary>
    public const string Tim = "tim";

    /// <summary>Owns the VMs whose outcomes wait in the agent's outbox while the portal is out of reach (AgentOutboxTests).</summary>
    public const string Obi = "obi";

    /// <summary>Owns the VM whose host's portal is killed (SeveralPortalsTests).</summary>
    public const string Porter = "porter";

    /// <summary>Owns the VM whose host's disk is full (DiskFullTests).</summary>
    public const string Fern = "fern";

    /// <summary>Owns the VMs of the fault suite (FaultSuiteTests), whose portal is killed under them.</summary>
    public const string Fay = "fay";

    /// <summary>Owns the VMs whose agent is killed in the middle of each kind of operation (AgentKillOperationTests).</summary>
    public const string Kai = "kai";

    /// <summary>Owns the 20 VMs whose agent is killed at once (AgentKillManyTests).</summary>
    public const string Rex = "rex";

    /// <summary>Sends the same create twice with one Idempotency-Key (IdempotentCreateTests).</summary>
    public const string Ida = "ida";

    /// <summary>Makes personal API tokens and drives a VM with them alone; disabled at the end (ApiTokenTests).</summary>
    public const string Toki = "toki";

    /// <summary>Owns the objects whose API answers are checked against the OpenAPI document (OpenApiTests).</summary>
    public const string Opal = "opal";

    /// <summary>Drives a VM, an upload and a request through the command-line client (CliTests).</summary>
    public const string Clio = "clio";

    /// <summary>Owns the VM whose story the metrics follow (MetricsTests).</summary>
    public const string Metro = "metro";

    /// <summary>Owns the VM whose charts rise (VmStatsTests).</summary>
    public const string Stella = "stella";

    /// <summary>Types into her VM's console with Type text (TypeTextTests).</summary>
    public const string Tyler = "tyler";

    /// <summary>Owns the VM whose screen she shares view-only, and disconnects its viewer (ConsoleViewersTests).</summary>
    public const string Viola = "viola";

    /// <summary>A stranger to Viola's VM who watches it through her share link (ConsoleViewersTests).</summary>
    public const string Walt = "walt";

    /// <summary>Every member account the run makes; a test that needs one to itself adds it here.</summary>
    private static readonly string[] Members =
    [
        Alice,
        Bob,
        Carol,
        Dave,
        Erin,
        Frank,
        Gina,
        Hank,
        Ivan,
        Judy,
        Kate,
        Leo,
        Mona,
        Quinn,
        Rita,
        Tara,
        Ugo,
        Vera,
        Wes,
        Xena,
        Yuri,
        Zoe,
        Pia,
        Omar,
        Nils,
        Mallory,
        Sam,
        Tess,
        Ada,
        Gus,
        Olga,
        Pete,
        Fuzzy,
        Otto,
        Stan,
        Fuzzed,
        Mira,
        Maud,
        Neta,
        Niko,
        Nuri,
        Nell,
        Noor,
        Tim,
        Obi,
        Porter,
        Fern,
        Fay,
        Kai,
        Rex,
        Ida,
        Toki,
        Opal,
        Clio,
        Metro,
        Stella,
        Tyler,
        Viola,
        Walt,
    ];

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
        Traces.Start(FreePort());
        File.Delete(Path.Combine(Artifacts, "fault-suite.txt"));
        File.Delete(Path.Combine(Artifacts, "test-times.txt"));
        PortalUrl = $"https://127.0.0.1:{FreePort()}";
        HttpUrl = $"http://127.0.0.1:{FreePort()}";
        CertificateSha256 = Convert.ToHexStringLower(
            SHA256.HashData(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(CertificatePath).RawData));
        var portal = Env("PADDOCK_TEST_PORTAL_DLL");
        // One process for all the members: each is a start of the portal's binary (about a second).
        await RunToEndAsync(portal, ["accounts", "add", "--user", AdminUser, "--role", "admin"], Password);
        await RunToEndAsync(portal, ["accounts", "add", .. Members.SelectMany(m => new[] { "--user", m }), "--role", "member"], Password);

        // The run command's way (the portal is not up yet); the tests' hosts join with tokens from the API.
        _agentToken = await PortalCliAsync("hosts", "join-token", "--note", "e2e-host");
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
            // Debian's headless shell of the same Chromium (the build Playwright itself runs headless):
            // no browser window to composite, so a page load costs it under half the CPU of /usr/bin/chromium.
            ExecutablePath = "/usr/bin/chromium-headless-shell",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Current = this;
    }

    /// <summary>The run's fixture once it has started, for xUnit's per-test hooks (<see cref="ClosePagesAfterEachTestAttribute"/>).</summary>
    public static PaddockFixture? Current { get; private set; }

    /// <summary>Where every process the fixture starts sends its traces.</summary>
    public OtlpSink Traces { get; } = new();

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
            try
            {
                await EndedWithinAsync(process, TimeSpan.FromSeconds(10), _names[process]);
            }
            catch (TimeoutException)
            {
                // Killed: the run's end does not wait on it.
            }
        }

        // VMs outlive their agent by design; the run's own must not outlive the run.
        using var pkill = Process.Start("pkill", ["-KILL", "-f", $"qemu-system-x86_64 -name guest=.*{VmsDir}"]);
        await pkill.WaitForExitAsync();
        await RemoveNetworksAsync();
    }

    /// <summary>
    /// What the run's agents made for tenant networks and left when they were stopped (an agent
    /// leaves them to its VMs by design): their dnsmasq processes (files under the run's data
    /// directory), and the links, namespaces and nft tables named with their prefixes.
    /// </summary>
    private async Task RemoveNetworksAsync()
    {
        const string script = """
            data="$1"; shift
            pkill -KILL -f "dnsmasq .*$data/" || true
            for prefix in "$@"; do
              for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$prefix" || true); do ip link del "$link" 2>/dev/null || true; done
              for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix" || true); do ip netns del "$ns" || true; done
              for table in $(nft list tables | awk -v p=" ${prefix}_" 'index($0, p) {print $2 " " $3}' | tr ' ' ':'); do nft delete table $(echo "$table" | tr ':' ' ') || true; done
            done
            """;
        using var cleanup = Process.Start("bash", ["-c", script, "paddock-cleanup", DataDir, .. NetworkPrefixes]);
        await cleanup.WaitForExitAsync();
    }

    /// <summary>xUnit calls it after <see cref="DisposeAsync"/>.</summary>
    public void Dispose()
    {
        _sharedLock.Dispose();
        Traces.Dispose();
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
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "xUnit's own name for a collection definition.")]
public sealed class PaddockCollection : ICollectionFixture<PaddockFixture>
{
    public const string Name = "paddock";
}
