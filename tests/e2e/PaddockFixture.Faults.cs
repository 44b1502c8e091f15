using System.Net;

namespace Paddock.E2e;

/// <summary>The faults the fault suite causes to the run's own portal and PostgreSQL, and putting them right.</summary>
public sealed partial class PaddockFixture
{
    /// <summary>The pid of the portal the run's agents dial.</summary>
    public int PortalPid => _processes.Last(p => _names[p] == "portal").Id;

    /// <summary>The pid of the run's first agent.</summary>
    public int AgentPid => _processes.Last(p => _names[p] == "agent").Id;

    /// <summary>kill -9 of the portal the run's agents dial (they reconnect by themselves once it is back).</summary>
    public Task KillPortalAsync() => KillProcessAsync("portal");

    /// <summary>
    /// Starts the portal the run's agents dial again, on the same addresses, unless it runs; returns
    /// once it answers. <paramref name="settings"/> go beside its usual environment until it is
    /// started again without them (<see cref="RestorePortalAsync"/>).
    /// </summary>
    public async Task EnsurePortalAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        if (_processes.Any(p => _names[p] == "portal" && !p.HasExited))
        {
            return;
        }

        var environment = PortalEnvironment();
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        _portalSettings = settings;
        Start("portal", Env("PADDOCK_TEST_PORTAL_DLL"), ["--urls", $"{PortalUrl};{HttpUrl}"], environment);
        await Eventually.Async(async () =>
        {
            using var http = NewHttpClient();
            return (await http.GetAsync($"{PortalUrl}/account/login")).StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(90), "the portal answers again");
    }

    /// <summary>The portal as the run started it, for the tests that follow: running, with no settings of a test's.</summary>
    public async Task RestorePortalAsync()
    {
        if (_portalSettings is not null && _processes.Any(p => _names[p] == "portal" && !p.HasExited))
        {
            await KillPortalAsync();
        }

        await EnsurePortalAsync();
    }

    private IReadOnlyDictionary<string, string>? _portalSettings;

    /// <summary>Waits until the run's first agent is registered (after a portal restart: again, as the restart marks every host away).</summary>
    public Task FirstAgentRegisteredAsync(DateTimeOffset? since = null) =>
        Eventually.Async(
            async () => await CountAsync(
                "select count(*) from paddock.mt_doc_hostrecord where data->>'Name' = 'e2e-host' and (data->>'Connected')::boolean " +
                "and (data->>'LastSeenAt')::timestamptz > @since",
                ("since", since ?? DateTimeOffset.UnixEpoch)) > 0,
            TimeSpan.FromSeconds(60), "the agent registered again");

    private readonly List<Paddock.Testing.FaultRow> _faultRows = [];

    /// <summary>
    /// Issue #20's summary table for the whole run: each fault scenario adds its row as it ends, with
    /// what it counted, and the table in <c>artifacts/fault-suite.txt</c> is written again at once (a
    /// scenario that failed before its end has no row: its test failed). <c>./paddock test</c> prints it.
    /// </summary>
    public void RecordFaults(Paddock.Testing.FaultRow row)
    {
        lock (_faultRows)
        {
            _faultRows.Add(row);
            File.WriteAllText(Path.Combine(Artifacts, "fault-suite.txt"), Paddock.Testing.FaultSuite.Table(_faultRows));
        }
    }

    /// <summary>Stops the run's PostgreSQL for <paramref name="down"/> (every connection cut) and starts it again.</summary>
    public Task RestartDatabaseAsync(TimeSpan down) => Paddock.Testing.LocalDatabase.RestartAsync(DataDir, Connection, down, argv => RunAsync(argv[0], argv[1..]));
}
