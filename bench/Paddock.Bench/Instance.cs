using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace Paddock.Bench;

/// <summary>
/// The portal and one host agent as their own processes, started the way tests/e2e's
/// PaddockFixture starts them, against the database and data directory './paddock bench' prepared.
/// For the migration benchmark a second agent can join (<see cref="StartSecondAgentAsync"/>).
/// </summary>
public sealed class Instance : IAsyncDisposable
{
    public const string User = "bench";

    public const string FirstHost = "bench-host";

    public const string SecondHost = "bench-host-2";

    private readonly List<Process> _processes = [];

    private Process? _portal;

    private readonly bool _forMigration;

    private Dictionary<string, string> _agentEnvironment = [];

    private Process? _agent;

    private Instance(string portalDll, string agentDll, bool forMigration)
    {
        PortalDll = portalDll;
        AgentDll = agentDll;
        _forMigration = forMigration;
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

    /// <summary>The second agent's own data directory (run directories, image cache, state); './paddock bench' empties it.</summary>
    public string SecondDataDir => Path.Combine(DataDir, "agent2");

    public string SecondVmsDir => Path.Combine(SecondDataDir, "vms");

    /// <summary>
    /// Starts the portal and the first agent. With <paramref name="forMigration"/> the bench's
    /// account is an admin (only admins move VMs) and every agent gives its QEMUs a second monitor
    /// for the bench (<c>Agent:TestMonitor</c>), where it reads STOP and RESUME.
    /// </summary>
    public static async Task<Instance> StartAsync(CancellationToken ct, bool forMigration = false)
    {
        var instance = new Instance(Env("PADDOCK_TEST_PORTAL_DLL"), Env("PADDOCK_TEST_AGENT_DLL"), forMigration);
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

    /// <summary>
    /// The portal alone, and a second portal process on the same database, for the scale benchmark:
    /// its hosts are hollow (<see cref="HollowHost"/>) and join by the API; the bench's account is an admin.
    /// </summary>
    public static async Task<Instance> StartPortalsAsync(CancellationToken ct)
    {
        var instance = new Instance(Env("PADDOCK_TEST_PORTAL_DLL"), Env("PADDOCK_TEST_AGENT_DLL"), forMigration: true);
        try
        {
            Directory.CreateDirectory(instance.Logs);
            await instance.RunPortalCliAsync(["accounts", "add", "--user", User, "--role", "admin"], instance.Password, ct);
            await instance.StartPortalAsync(ct);
            var second = new Dictionary<string, string>(instance.PortalEnvironment()) { ["Paddock__ResetHostsOnStart"] = "false", ["Paddock__DirectUrl"] = instance.SecondPortalUrl };
            instance._processes.Add(ChildProcess.Start("dotnet", [instance.PortalDll, "--urls", instance.SecondPortalUrl], second, instance.LogPath("portal2")));
            await instance.AnswersAsync(instance.SecondPortalUrl, "the second portal", ct);
            return instance;
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    /// <summary>Member accounts with the bench's password (one start of the portal's command line for all).</summary>
    public Task AddMembersAsync(IReadOnlyList<string> users, CancellationToken ct) =>
        RunPortalCliAsync(["accounts", "add", .. users.SelectMany(u => new[] { "--user", u }), "--role", "member"], Password, ct);

    /// <summary>The second portal process's address (<see cref="StartPortalsAsync"/>).</summary>
    public string SecondPortalUrl { get; } = $"https://127.0.0.1:{FreePort()}";

    /// <summary>The portal processes running now (for their memory and CPU).</summary>
    public IReadOnlyList<int> PortalPids => [.. _processes.Where(p => !p.HasExited && p != _agent).Select(p => p.Id)];

    private async Task StartProcessesAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Logs);
        await RunPortalCliAsync(["accounts", "add", "--user", User, "--role", _forMigration ? "admin" : "member"], Password, ct);
        var joinToken = await RunPortalCliAsync(["hosts", "join-token", "--note", FirstHost], "", ct);
        await StartPortalAsync(ct);

        _agentEnvironment = AgentEnvironment(joinToken, DataDir, FirstHost);
        _processes.Add(_agent = ChildProcess.Start("dotnet", [AgentDll], _agentEnvironment, LogPath("agent")));
        await Wait.UntilAsync(async () => await ConnectedHostsAsync(ct) > 0, TimeSpan.FromSeconds(60), "the host agent registered", ct,
            poll: TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Starts the portal (again, after <see cref="KillPortalAsync"/>) on its address; returns once it answers.</summary>
    public async Task StartPortalAsync(CancellationToken ct)
    {
        _portal = ChildProcess.Start("dotnet", [PortalDll, "--urls", PortalUrl], PortalEnvironment(), LogPath("portal"));
        _processes.Add(_portal);
        await AnswersAsync(PortalUrl, "the portal", ct);
    }

    /// <summary>Returns once the portal process at <paramref name="url"/> serves its sign-in page.</summary>
    private Task AnswersAsync(string url, string what, CancellationToken ct) =>
        Wait.UntilAsync(async () =>
        {
            using var http = new HttpClient(TrustingHandler());
            return (await http.GetAsync($"{url}/account/login", ct)).StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(90), $"{what} answers", ct, poll: TimeSpan.FromMilliseconds(200));

    /// <summary>kill -9 of the portal; the agents reconnect by themselves once it is back.</summary>
    public async Task KillPortalAsync()
    {
        if (_portal is { } portal)
        {
            portal.Kill(entireProcessTree: false);
            await portal.WaitForExitAsync();
            _processes.Remove(portal);
            portal.Dispose();
            _portal = null;
        }
    }

    /// <summary>
    /// A second host agent on this machine with its own data directory and join token, as tests/e2e
    /// starts one; the built-in template is installed with it, as on every host.
    /// </summary>
    public async Task StartSecondAgentAsync(CancellationToken ct)
    {
        var images = Directory.CreateDirectory(Path.Combine(SecondDataDir, "images")).FullName;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(DataDir, "images"), "builtin-busybox.qcow2*"))
        {
            File.Copy(file, Path.Combine(images, Path.GetFileName(file)), overwrite: true);
        }

        var joinToken = await RunPortalCliAsync(["hosts", "join-token", "--note", SecondHost], "", ct);
        var environment = AgentEnvironment(joinToken, SecondDataDir, SecondHost);
        // KSM is machine-wide: the first agent manages it.
        environment["Agent__ManageKsm"] = "false";
        _processes.Add(ChildProcess.Start("dotnet", [AgentDll], environment, LogPath("agent2")));
        await Wait.UntilAsync(async () => await ConnectedHostsAsync(ct) > 1, TimeSpan.FromSeconds(60), "the second host agent registered", ct,
            poll: TimeSpan.FromMilliseconds(200));
    }

    /// <summary>
    /// Kills the first agent with SIGKILL (its QEMUs live on, as they would) and starts it again at
    /// once; returns when the new one started, so the caller times what follows.
    /// </summary>
    public async Task<DateTimeOffset> KillAndRestartAgentAsync(CancellationToken ct)
    {
        var old = _agent ?? throw new InvalidOperationException("The first agent was never started.");
        old.Kill();
        await old.WaitForExitAsync(ct);
        var startedAt = DateTimeOffset.UtcNow;
        _processes.Add(_agent = ChildProcess.Start("dotnet", [AgentDll], _agentEnvironment, LogPath("agent")));
        return startedAt;
    }

    /// <summary>Whether the first agent has registered (connected, and heard from) since <paramref name="since"/>.</summary>
    public async Task<bool> RegisteredSinceAsync(DateTimeOffset since, CancellationToken ct)
    {
        await using var db = await OpenDatabaseAsync(ct);
        await using var command = new NpgsqlCommand(
            "select count(*) from paddock.mt_doc_hostrecord where data->>'Name' = @name and (data->>'Connected')::boolean and (data->>'LastSeenAt')::timestamptz > @since", db);
        command.Parameters.AddWithValue("name", FirstHost);
        command.Parameters.AddWithValue("since", since);
        return (long)(await command.ExecuteScalarAsync(ct))! > 0;
    }

    /// <summary>The id of the host agent that joined as <paramref name="name"/>.</summary>
    public async Task<Guid> HostIdAsync(string name, CancellationToken ct)
    {
        await using var db = await OpenDatabaseAsync(ct);
        await using var command = new NpgsqlCommand("select id from paddock.mt_doc_hostrecord where data->>'Name' = @name and not (data->>'Revoked')::boolean", db);
        command.Parameters.AddWithValue("name", name);
        return (Guid)(await command.ExecuteScalarAsync(ct) ?? throw new InvalidOperationException($"No host {name}."));
    }

    private Dictionary<string, string> AgentEnvironment(string joinToken, string dataDir, string name)
    {
        var environment = new Dictionary<string, string>
        {
            ["Agent__PortalUrl"] = PortalUrl,
            ["Agent__JoinToken"] = joinToken,
            ["Agent__PortalCertificateSha256"] = CertificateSha256,
            ["Agent__DataDir"] = dataDir,
            ["Agent__Name"] = name,
        };
        if (_forMigration)
        {
            environment["Agent__TestMonitor"] = "true";
        }

        return environment;
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
        // Every line says when, as in the tests' logs.
        ["Logging__Console__FormatterName"] = "simple",
        ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
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

        // VMs outlive their agent by design: take down every QEMU the agents started for this instance.
        using var pkill = Process.Start("pkill", ["-f", $"qemu-system-x86_64 -name guest=.*{DataDir}/(agent2/)?vms/"]);
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
