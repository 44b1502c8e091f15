using System.Diagnostics;
using System.Net;

namespace Paddock.E2e;

/// <summary>Process control: the portal, host agents and their command lines, started and stopped as the tests need.</summary>
public sealed partial class PaddockFixture
{
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
        var pid = _processes.Last(p => _names[p] == "agent").Id;
        await KillProcessAsync("agent");
        return pid;
    }

    /// <summary>
    /// Starts the agent unless one runs, and waits for it to register: a test that kills the
    /// agent runs this after it ends, so a failure between the kill and the restart never
    /// leaves later tests without their host.
    /// </summary>
    public async Task EnsureAgentAsync()
    {
        if (_processes.Any(p => _names[p] == "agent" && !p.HasExited))
        {
            return;
        }

        var startedAt = DateTimeOffset.UtcNow;
        StartAgent();
        await Eventually.Async(async () => await ConnectedHostsAsync(since: startedAt) > 0, TimeSpan.FromSeconds(60), "the agent to register again");
    }

    /// <param name="portalUrl">Where the agent dials the portal: the portal itself, or a proxy of the test's that it can cut.</param>
    public void StartAgent(string? portalUrl = null) => Start("agent", Env("PADDOCK_TEST_AGENT_DLL"), [], new()
    {
        ["Agent__PortalUrl"] = portalUrl ?? PortalUrl,
        ["Agent__JoinToken"] = _agentToken!,
        ["Agent__PortalCertificateSha256"] = CertificateSha256,
        ["Agent__DataDir"] = DataDir,
        ["Agent__Name"] = "e2e-host",
        ["Agent__NetworkPrefix"] = NetworkPrefixOf("e2e-host"),
        ["Agent__VxlanPort"] = VxlanPortOf("e2e-host"),
        // The isolation proof talks to each QEMU through a second monitor of its own.
        ["Agent__TestMonitor"] = "true",
        // Small enough for a test guest to pass in seconds; other tests' guests print a few KiB.
        ["Agent__SerialLogMaxMiB"] = "0.25",
        ["Agent__SerialLogCheckInterval"] = "00:00:01",
    });

    /// <summary>A second host agent on this machine with its own data directory (run directories, image cache) and less memory declared.</summary>
    public string SecondAgentDir => Path.Combine(DataDir, "agent2");

    /// <param name="settings">The agent's settings beside the usual ones (a disk floor it cannot meet, say).</param>
    public async Task StartSecondAgentAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        // One agent2 at a time: one a failed test left running would keep its settings and the data directory.
        await StopAgentAsync("agent2");
        // A host the VMs of the built-in template may move to: it has the template, as every host the run command installs.
        InstallBuiltInTemplate(SecondAgentDir);
        StartExtraAgent("agent2", "e2e-host-2", SecondAgentDir, _secondAgentToken ??= await JoinTokenAsync("e2e-host-2"), memoryMiB: 1024, settings: settings);
    }

    public Task StopSecondAgentAsync() => StopAgentAsync("agent2");

    /// <summary>The second agent's run directories.</summary>
    public string SecondAgentVmsDir => Path.Combine(SecondAgentDir, "vms");

    /// <summary>kill -9 of a process the fixture started, by its name (an agent's QEMUs stay).</summary>
    public async Task KillProcessAsync(string process)
    {
        var agent = _processes.Last(p => _names[p] == process);
        agent.Kill(entireProcessTree: false);
        await agent.WaitForExitAsync();
        _processes.Remove(agent);
    }

    /// <summary>
    /// Ends the second portal processes earlier tests started and left running. Each takes part in
    /// what runs in the background (an evacuation among them) and names itself, by its DirectUrl, as
    /// where a migration's channels meet, yet no agent here dials it: a deployment lists every
    /// process's DirectUrl among its agents' PortalAddresses; these test processes are not listed.
    /// </summary>
    public async Task StopSecondPortalsAsync()
    {
        foreach (var portal in _processes.Where(p => _names[p].StartsWith("portal", StringComparison.Ordinal) && _names[p] != "portal" && !p.HasExited).ToList())
        {
            portal.Kill(entireProcessTree: false);
            await portal.WaitForExitAsync();
            _processes.Remove(portal);
        }
    }

    /// <summary>
    /// Another host agent on this machine with its own data directory (run directories, image
    /// cache, state) and less memory declared; it powers its VMs off when it stops. Its log is
    /// <c>{process}.log</c> in the artifacts.
    /// </summary>
    /// <param name="portalUrl">Where it dials: the first portal unless said otherwise (a proxy in front of several, say).</param>
    public void StartExtraAgent(
        string process, string hostName, string dataDir, string joinToken, int memoryMiB, int? cpus = null, IReadOnlyDictionary<string, string>? settings = null,
        string? portalUrl = null) =>
        Start(process, Env("PADDOCK_TEST_AGENT_DLL"), [], new Dictionary<string, string>(settings ?? new Dictionary<string, string>())
        {
            ["Agent__DeclaredCpus"] = (cpus ?? Environment.ProcessorCount).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Agent__PortalUrl"] = portalUrl ?? PortalUrl,
            ["Agent__JoinToken"] = joinToken,
            ["Agent__PortalCertificateSha256"] = CertificateSha256,
            ["Agent__DataDir"] = dataDir,
            ["Agent__Name"] = hostName,
            ["Agent__NetworkPrefix"] = NetworkPrefixOf(hostName),
            ["Agent__VxlanPort"] = VxlanPortOf(hostName),
            ["Agent__DeclaredMemoryMiB"] = memoryMiB.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Agent__StopVmsOnExit"] = "true",
            // KSM is machine-wide: the run's first agent manages it.
            ["Agent__ManageKsm"] = "false",
        });

    /// <summary>
    /// Every agent on this one machine names its network devices with a prefix of its own and
    /// listens for VXLAN on a port of its own, the same for a host name all run long (an agent
    /// started again finds what it made): "ta", "tb", … and 4790, 4791, ….
    /// </summary>
    public string NetworkPrefixOf(string hostName) => $"{NetworkLetter}{(char)('a' + HostIndexOf(hostName))}";

    private string VxlanPortOf(string hostName) =>
        ((NetworkLetter == 't' ? 4790 : 5000 + (NetworkLetter - 'a') * 26) + HostIndexOf(hostName)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// VM uids are the machine's too: each run takes a range of its own (the labels' 523,776 uids
    /// apart), so that two runs at once never run VMs, or check files, under one another's uids.
    /// </summary>
    private static int VmUidBase => NetworkLetter == 't' ? 2_000_000 : 3_000_000 + ((NetworkLetter - 'a') * 600_000);

    /// <summary>The uid (and gid) qemu-img runs under on uploads: just below the run's VM uids.</summary>
    public static int UploadUid => VmUidBase - 1;

    /// <summary>Port forwards are the machine's (every agent here shares one root namespace): each run on this machine takes ports of its own.</summary>
    private static string ForwardPorts =>
        NetworkLetter == 't' ? "20000-20099" : $"{30000 + (NetworkLetter - 'a') * 100}-{30099 + (NetworkLetter - 'a') * 100}";

    /// <summary>
    /// The first letter of every agent's network prefix in this run: "t" unless PADDOCK_NETWORK_LETTER
    /// names another lowercase letter, so that two runs on one machine (different PADDOCK_INSTANCE)
    /// lay out their networks apart.
    /// </summary>
    private static readonly char NetworkLetter = Environment.GetEnvironmentVariable("PADDOCK_NETWORK_LETTER") is [var letter and >= 'a' and <= 'z'] ? letter : 't';

    private int HostIndexOf(string hostName)
    {
        lock (_hostIndexes)
        {
            if (!_hostIndexes.TryGetValue(hostName, out var index))
            {
                index = _hostIndexes.Count;
                Assert.True(index < 26, "More than 26 agent host names in one run: the network prefixes ran out.");
                _hostIndexes[hostName] = index;
            }

            return index;
        }
    }

    /// <summary>The network prefixes the run's agents used: what the fixture removes at its end.</summary>
    public IEnumerable<string> NetworkPrefixes
    {
        get
        {
            lock (_hostIndexes)
            {
                return [.. _hostIndexes.Values.Select(i => $"{NetworkLetter}{(char)('a' + i)}")];
            }
        }
    }

    private readonly Dictionary<string, int> _hostIndexes = [];

    /// <summary>The built-in template is installed on each host with the agent, as the run command does.</summary>
    public void InstallBuiltInTemplate(string dataDir)
    {
        var images = Directory.CreateDirectory(Path.Combine(dataDir, "images")).FullName;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(DataDir, "images"), "builtin-busybox.qcow2*"))
        {
            File.Copy(file, Path.Combine(images, Path.GetFileName(file)), overwrite: true);
        }
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
        InstallBuiltInTemplate(dataDir);
        await RunAsync("chown", "-R", $"{Nobody}:{Nobody}", "--", dataDir);
        Start(process, Path.Combine(copy, Path.GetFileName(Env("PADDOCK_TEST_AGENT_DLL"))), [], new()
        {
            ["HOME"] = dataDir,
            ["Agent__PortalUrl"] = PortalUrl,
            ["Agent__JoinToken"] = joinToken,
            ["Agent__PortalCertificateSha256"] = CertificateSha256,
            ["Agent__DataDir"] = dataDir,
            ["Agent__Name"] = hostName,
            ["Agent__NetworkPrefix"] = NetworkPrefixOf(hostName),
            ["Agent__VxlanPort"] = VxlanPortOf(hostName),
            ["Agent__DeclaredMemoryMiB"] = "1024",
            ["Agent__StopVmsOnExit"] = "true",
            ["Agent__ManageKsm"] = "false",
        }, runAs: Nobody);
    }

    /// <summary>Stops a process the fixture started (agent or portal) by its name: SIGTERM and a wait for its end; none running is no error.</summary>
    public async Task StopAgentAsync(string process)
    {
        if (_processes.LastOrDefault(p => _names[p] == process) is not { } agent)
        {
            return;
        }

        using (var term = Process.Start("kill", ["-TERM", agent.Id.ToString()]))
        {
            await term.WaitForExitAsync();
        }

        _processes.Remove(agent);
        try
        {
            await EndedWithinAsync(agent, StopLimit, process);
        }
        catch (TimeoutException e)
        {
            // Where its stop got to: the last it logged.
            var tail = string.Join('\n', LogOf(process).Split('\n').TakeLast(20));
            throw new TimeoutException($"{e.Message} Its log ends:\n{tail}", e);
        }
    }

    /// <summary>
    /// A second portal process on the same database (and image library), which no agent dials:
    /// what it decides must hold together with the first. Returns its URL. <paramref name="settings"/>
    /// overrides the portal's environment (a limit low enough to reach); another <paramref name="connection"/>
    /// (a proxy of the test's) lets a test take the database away from it alone.
    /// </summary>
    public async Task<string> StartSecondPortalAsync(
        IReadOnlyDictionary<string, string>? settings = null, string process = "portal2", string? connection = null)
    {
        var url = $"https://127.0.0.1:{FreePort()}";
        var environment = PortalEnvironment();
        environment["Paddock__ResetHostsOnStart"] = "false";
        environment["Paddock__DirectUrl"] = url;
        environment["ConnectionStrings__Paddock"] = connection ?? Connection;
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        Start(process, Env("PADDOCK_TEST_PORTAL_DLL"), ["--urls", url], environment);
        await Eventually.Async(async () =>
        {
            using var http = NewHttpClient();
            return (await http.GetAsync($"{url}/account/login")).StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(90), "the second portal answers");
        return url;
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
        ["Paddock__DebianTemplate__ImagePath"] = Environment.GetEnvironmentVariable("PADDOCK_TEST_DEBIAN_IMAGE") ?? "",
        ["Paddock__Console__TicketLifetime"] = TicketLifetime.ToString(),
        // Short enough for a test to see a host turn Unreachable.
        ["Paddock__HostGrace"] = HostGrace.ToString(),
        // Short enough to see in a test; every browser here comes from one address, so that limit stays out of the way.
        ["Paddock__SignIn__AccountLockAt"] = "5",
        ["Paddock__SignIn__AddressSlowFrom"] = "1000",
        ["Paddock__SignIn__AddressLockAt"] = "10000",
        ["Paddock__SignIn__AddressPostsPerMinute"] = "100000",
        ["Paddock__Networks__ForwardPorts"] = ForwardPorts,
        ["Paddock__VmUidBase"] = VmUidBase.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Paddock__Uploads__Uid"] = UploadUid.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Paddock__Uploads__Gid"] = UploadUid.ToString(System.Globalization.CultureInfo.InvariantCulture),
        // The main portal's own address: an agent held by another portal process dials it back for consoles opened here.
        ["Paddock__DirectUrl"] = PortalUrl,
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
    };

    private void Start(string name, string dll, string[] args, Dictionary<string, string> environment, int? runAs = null)
    {
        var start = new ProcessStartInfo(runAs is null ? "dotnet" : "setpriv")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (runAs is { } uid)
        {
            // setpriv execs dotnet: the process the fixture holds is the agent itself.
            var id = uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var arg in new[] { "--reuid", id, "--regid", id, "--clear-groups", "--", "dotnet" })
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

        // Traces to the fixture's collector, sent every half second; metrics rarely (the scrape is what tests read).
        start.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = Traces.Endpoint;
        start.Environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        start.Environment["OTEL_BSP_SCHEDULE_DELAY"] = "500";
        // The portal traces every request and query too: a queue that holds a busy second of them drops none of Paddock's own spans.
        start.Environment["OTEL_BSP_MAX_QUEUE_SIZE"] = "65536";
        start.Environment["OTEL_METRIC_EXPORT_INTERVAL"] = "600000";
        // A failure is read against the test log's clock: every line says when.
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        var process = Process.Start(start)!;
        var log = new StreamWriter(Path.Combine(Artifacts, $"{name}.log"), append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // A run cut short (a hang the test host was killed for) skips the fixture's end: the run command ends these.
        File.AppendAllText(Path.Combine(Artifacts, "pids.txt"), $"{process.Id}\n");
        _processes.Add(process);
        _names[process] = name;
    }
}
