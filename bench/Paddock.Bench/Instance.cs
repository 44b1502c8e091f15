using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace Paddock.Bench;

/// <summary>
/// The portal and one host agent as their own processes, started the way tests/e2e's
/// PaddockFixture starts them, against the database and data directory './paddock bench' prepared.
/// </summary>
public sealed class Instance : IAsyncDisposable
{
    public const string User = "bench";

    private readonly List<Process> _processes = [];

    private Instance(string portalDll, string agentDll)
    {
        PortalDll = portalDll;
        AgentDll = agentDll;
    }

    public string Password { get; } = "pw-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12));

    /// <summary>The portal's certificate ('./paddock bench' made it); clients here trust exactly it.</summary>
    public string CertificatePath { get; } = Env("PADDOCK_TEST_CERT");

    public string CertificateSha256 => Convert.ToHexStringLower(SHA256.HashData(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(CertificatePath).RawData));

    /// <summary>A handler that accepts the portal's own certificate and no other.</summary>
    public HttpClientHandler TrustingHandler()
    {
        var pin = CertificateSha256;
        return new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null && Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)) == pin };
    }

    public string Connection { get; } = Env("PADDOCK_TEST_CONNECTION");

    public string DataDir { get; } = Env("PADDOCK_TEST_DATA");

    /// <summary>The bench instance's own log folder: the shared artifacts folder belongs to test runs too.</summary>
    public string Logs => Path.Combine(DataDir, "logs");

    public string PortalDll { get; }

    public string AgentDll { get; }

    public string PortalUrl { get; } = $"https://127.0.0.1:{FreePort()}";

    public string VmsDir => Path.Combine(DataDir, "vms");

    public static async Task<Instance> StartAsync(CancellationToken ct)
    {
        var instance = new Instance(Env("PADDOCK_TEST_PORTAL_DLL"), Env("PADDOCK_TEST_AGENT_DLL"));
        try
        {
            await instance.StartProcessesAsync(ct);
            return instance;
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    private async Task StartProcessesAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Logs);
        await RunPortalCliAsync(["accounts", "add", "--user", User, "--role", "member"], Password, ct);
        var joinToken = await RunPortalCliAsync(["hosts", "join-token", "--note", "bench-host"], "", ct);
        _processes.Add(ChildProcess.Start("dotnet", [PortalDll, "--urls", PortalUrl], PortalEnvironment(), LogPath("portal")));
        await Wait.UntilAsync(async () =>
        {
            using var http = new HttpClient(TrustingHandler());
            return (await http.GetAsync($"{PortalUrl}/account/login", ct)).StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(90), "the portal answers", ct, poll: TimeSpan.FromMilliseconds(200));

        _processes.Add(ChildProcess.Start("dotnet", [AgentDll], new()
        {
            ["Agent__PortalUrl"] = PortalUrl,
            ["Agent__JoinToken"] = joinToken,
            ["Agent__PortalCertificateSha256"] = CertificateSha256,
            ["Agent__DataDir"] = DataDir,
            ["Agent__Name"] = "bench-host",
        }, LogPath("agent")));
        await Wait.UntilAsync(async () => await ConnectedHostsAsync(ct) > 0, TimeSpan.FromSeconds(60), "the host agent registered", ct,
            poll: TimeSpan.FromMilliseconds(200));
    }

    public string LogPath(string name) => Path.Combine(Logs, $"bench-{name}.log");

    public async Task<NpgsqlConnection> OpenDatabaseAsync(CancellationToken ct)
    {
        var db = new NpgsqlConnection(Connection);
        await db.OpenAsync(ct);
        return db;
    }

    private async Task<long> ConnectedHostsAsync(CancellationToken ct)
    {
        await using var db = await OpenDatabaseAsync(ct);
        await using var command = new NpgsqlCommand("select count(*) from paddock.mt_doc_hostrecord where (data->>'Connected')::boolean", db);
        try
        {
            return (long)(await command.ExecuteScalarAsync(ct))!;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    /// <summary>Runs the portal's command line; <paramref name="input"/> goes on stdin (a password never on a command line others can read in /proc).</summary>
    private async Task<string> RunPortalCliAsync(string[] args, string input, CancellationToken ct)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in (string[])[PortalDll, .. args])
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in PortalEnvironment())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        await process.StandardInput.WriteLineAsync(input.AsMemory(), ct);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} failed: {await output}{await error}");
        }

        return (await output).Trim();
    }

    private Dictionary<string, string> PortalEnvironment() => new()
    {
        ["ConnectionStrings__Paddock"] = Connection,
        ["Kestrel__Certificates__Default__Path"] = CertificatePath,
        ["Kestrel__Certificates__Default__KeyPath"] = Env("PADDOCK_TEST_KEY"),
        ["Paddock__LibraryDir"] = Path.Combine(DataDir, "library"),
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
    };

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        // VMs outlive their agent by design: take down every QEMU the agent started for this instance.
        using var pkill = Process.Start("pkill", ["-f", $"qemu-system-x86_64 -name guest=.*{DataDir}/vms"]);
        await pkill.WaitForExitAsync();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Env(string name) =>
        Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set: run the benchmark through './paddock bench'.");
}
