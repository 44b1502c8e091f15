using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Npgsql;

namespace Paddock.E2e;

/// <summary>
/// A host's credential is no licence for bad input: a host enrolled for the test (never the fixture's
/// agent) sends hostile values to every agent route and every hub method the portal lists, and
/// broken frames to the hub; the portal refuses them (never an exception of its own), and no other
/// host loses its connection.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class AgentFuzzTests(PaddockFixture paddock)
{
    /// <summary>Frames the JSON hub protocol does not allow, or allows only from the portal.</summary>
    private static readonly (string Why, string Frame)[] BrokenFrames =
    [
        ("not JSON", "fuzz\u001e"),
        ("cut-off JSON", "{\"type\":1,\u001e"),
        ("an unknown message type", "{\"type\":99}\u001e"),
        ("an invocation without a target", "{\"type\":1,\"invocationId\":\"x\",\"arguments\":[]}\u001e"),
        ("arguments as an object", "{\"type\":1,\"invocationId\":\"x\",\"target\":\"ReportVm\",\"arguments\":{}}\u001e"),
        ("a stream invocation", "{\"type\":4,\"invocationId\":\"x\",\"target\":\"Register\",\"arguments\":[]}\u001e"),
        ("a completion nobody asked for", "{\"type\":3,\"invocationId\":\"nobody\",\"result\":1}\u001e"),
        ("a cancel of nothing", "{\"type\":5,\"invocationId\":\"nothing\"}\u001e"),
        ("a second handshake", "{\"protocol\":\"json\",\"version\":1}\u001e"),
        ("NUL bytes", "\0\0\0\u001e"),
        ("nesting 5000 deep", "{\"type\":1,\"target\":\"ReportVm\",\"arguments\":[" + new string('[', 5000) + new string(']', 5000) + "]}\u001e"),
        ("a frame over the hub's 256 KB", "{\"type\":1,\"target\":\"ReportVm\",\"arguments\":[\"" + new string('x', 300_000) + "\"]}\u001e"),
    ];

    [Fact]
    public async Task Hostile_calls_from_a_host_are_refused_and_cost_no_other_host_its_connection()
    {
        var main = await MainHostConnectionAsync();
        var host = await FuzzHost.EnrollAsync(paddock, "fuzz-agent");
        var bystander = await FuzzHost.EnrollAsync(paddock, "fuzz-bystander");
        await using var beside = await bystander.ConnectAsync(paddock);
        var routes = await FuzzRunner.RoutesAsync(paddock);

        // The agents' HTTP routes, with the host's credential; an image handed over under a library name meets its checksum.
        var caller = new FuzzCaller("host", Credential: host.Credential);
        var adopt = new FuzzTarget(new Dictionary<string, string> { ["file"] = new string('0', 64) + ".qcow2" });
        var cases = routes.Where(r => IsAgents((string)r["route"]!))
            .SelectMany(r => FuzzCases.For(r, signedIn: true, $"{r["methods"]} {r["route"]}" == "PUT /agent/images/{file}" ? adopt : null).Select(c => (caller, c)))
            .ToList();
        Assert.Contains(cases, c => c.c.Path.StartsWith("/agent/images/", StringComparison.Ordinal));
        using var http = paddock.NewHttpClient();
        http.Timeout = TimeSpan.FromSeconds(30);
        var outcome = await FuzzRunner.RunAsync(http, cases);
        Console.WriteLine(outcome.Summary);

        // Every hub method, argument by argument and field by field, then broken frames. The hosts' hub is the
        // portal's only hub besides Blazor's circuit hub: one for people would need a fuzz of its own here.
        var hubs = routes.Where(r => (string)r["kind"]! == "hub").Select(r => (string)r["route"]!).Where(r => !r.EndsWith("/negotiate", StringComparison.Ordinal));
        Assert.Equal(["/_blazor", "/hubs/hosts"], hubs.Order(StringComparer.Ordinal));
        var hub = routes.Single(r => (string)r["kind"]! == "hub" && (string)r["route"]! == "/hubs/hosts");
        var (calls, failures, closed) = await FuzzHubAsync(host, hub);
        await SendBrokenFramesAsync(host, beside);

        Console.WriteLine($"hub: {calls} calls, {closed.Count} of which ended their own connection");
        Assert.True(failures.Count == 0, $"{failures.Count} hub calls failed:\n" + string.Join('\n', failures.Take(60)));
        Assert.All(closed, c => Assert.Matches(OverTheLimit(), c));
        outcome.AssertClean();

        // The fixture's agent kept its connection throughout, and the fuzz host may come back, even as a host
        // of 3,000 VMs: its registration carries the first part of them (HubParts), as an agent's does. Whole,
        // it is past the hub's limit and ends only its own connection.
        Assert.Equal(main, await MainHostConnectionAsync());
        await (await host.ConnectAsync(paddock)).DisposeAsync();
        var many = Enumerable.Range(0, 3000).Select(_ => (System.Text.Json.Nodes.JsonNode)VmReport(Guid.NewGuid(), "Stopped")).ToList();
        var parts = Paddock.Engine.Contract.HubParts.Split(many);
        Assert.True(parts.Count > 1 && parts.All(p => p.Count > 0 && new System.Text.Json.Nodes.JsonArray([.. p.Select(n => n.DeepClone())]).ToJsonString().Length <= Paddock.Engine.Contract.HubParts.PartBytes));
        var whole = host.Registration(vms: new System.Text.Json.Nodes.JsonArray([.. many.Select(n => n.DeepClone())])).ToJsonString();
        Assert.True(whole.Length > Paddock.Engine.Contract.HubParts.MaxMessageBytes);
        await using (var tooLarge = await RawHubConnection.ConnectAsync(paddock, host.Credential))
        {
            var said = await tooLarge.InvokeAsync(nameof(Paddock.Engine.Contract.IHostHub.Register), whole);
            Assert.True(said.Closed, $"a registration of {whole.Length} bytes: {said}");
        }

        await (await host.ConnectAsync(paddock, host.Registration(vms: new System.Text.Json.Nodes.JsonArray([.. parts[0]])))).DisposeAsync();
        Assert.Equal(main, await MainHostConnectionAsync());
    }

    /// <summary>Every call of <see cref="HubCases"/>, in turn on one connection (a new one when a call ended it): what failed, what ended its connection.</summary>
    private async Task<(int Calls, List<string> Failures, List<string> Closed)> FuzzHubAsync(FuzzHost host, JsonObject hub)
    {
        var failures = new List<string>();
        var closed = new List<string>();
        var calls = 0;
        var connection = await host.ConnectAsync(paddock);
        try
        {
            foreach (var (method, why, arguments) in HubCases(hub, host))
            {
                calls++;
                if (!connection.IsOpen)
                {
                    await connection.DisposeAsync();
                    connection = await host.ConnectAsync(paddock);
                }

                var answer = await connection.InvokeAsync(method, arguments);
                if (answer.Closed)
                {
                    closed.Add($"{method}, {why}");
                }
                else if (HubProblem(method, answer) is { } problem)
                {
                    failures.Add($"{method}, {why}: {FuzzRunner.Cut(problem)}");
                }
            }
        }
        finally
        {
            await connection.DisposeAsync();
        }

        return (calls, failures, closed);
    }

    /// <summary>A broken frame may end (or, SignalR's parser being what it is, stall) the sender's own connection; never another host's.</summary>
    private async Task SendBrokenFramesAsync(FuzzHost host, RawHubConnection bystander)
    {
        foreach (var (why, frame) in BrokenFrames)
        {
            await using var connection = await host.ConnectAsync(paddock);
            await connection.SendFrameAsync(frame);
            var after = await connection.InvokeAsync("ReportVm", VmReport(Guid.NewGuid(), "Stopped").ToJsonString(), TimeSpan.FromSeconds(5));
            Console.WriteLine($"hub: after {why}, the sender's next call: {after}");
            var besides = await bystander.InvokeAsync("ReportVm", VmReport(Guid.NewGuid(), "Stopped").ToJsonString());
            Assert.True(besides.Error is null && !besides.Closed, $"the bystander after {why}: {besides}");
        }
    }

    /// <summary>Hub calls: wrong argument counts, wrong values for each argument, each field of each argument, methods the hub does not have.</summary>
    private static IEnumerable<(string Method, string Why, string Arguments)> HubCases(JsonObject hub, FuzzHost host)
    {
        foreach (var (method, parameters) in hub["hubParameters"]!.AsObject())
        {
            var shapes = parameters!.AsArray();
            // A registration of the host itself reaches the store; the other methods' baselines name nothing that exists.
            var baseline = shapes.Select(s => method == "Register" ? host.Registration() : FuzzCases.BaselineJson(s, enumsAsNumbers: true)).ToList();
            string With(int at, string json) => string.Join(',', baseline.Select((b, i) => i == at ? json : b?.ToJsonString() ?? "null"));
            yield return (method, "no arguments", "");
            yield return (method, "an extra argument", string.Join(',', baseline.Select(b => b?.ToJsonString() ?? "null").Append("1")));
            for (var i = 0; i < shapes.Count; i++)
            {
                foreach (var (why, json) in FuzzCases.WrongValues())
                {
                    yield return (method, $"argument {i}: {why}", With(i, json));
                }

                foreach (var (why, json) in FuzzCases.FieldCases(shapes[i]!, baseline[i]!))
                {
                    yield return (method, $"argument {i}: {why}", With(i, json));
                }
            }
        }

        foreach (var method in new[] { "NoSuchMethod", "OnConnectedAsync", "OnDisconnectedAsync", "Dispose", "" })
        {
            yield return (method, "not a method of the hub", "");
        }
    }

    /// <summary>
    /// What is wrong with a hub's answer, or null. The hub may refuse (a HubException's sentence, or
    /// SignalR's "Failed to invoke" when the arguments do not bind); "An unexpected error occurred"
    /// with nothing after it is an exception the hub did not expect: the 500 of a hub.
    /// </summary>
    private static string? HubProblem(string method, HubAnswer answer)
    {
        if (answer.Error is not { } error)
        {
            return FuzzRunner.Problem("", new(200, "application/json", answer.Result?.ToJsonString() ?? ""));
        }

        if (error == $"An unexpected error occurred invoking '{method}' on the server.")
        {
            return "an exception inside the hub";
        }

        if (error == "no answer in time")
        {
            return "no answer within 30 s";
        }

        // SignalR names the HubException a hub throws on purpose; what follows is the hub's own sentence.
        return FuzzRunner.Problem("", new(400, "application/json", error.Replace("HubException: ", "", StringComparison.Ordinal)));
    }

    private static bool IsAgents(string route) =>
        route.StartsWith("/agent/", StringComparison.Ordinal) || route.StartsWith("/console/agent/", StringComparison.Ordinal) || route.StartsWith("/hubs/hosts", StringComparison.Ordinal);

    public static JsonObject VmReport(Guid vmId, string state, string? detail = null) => new()
    {
        ["vmId"] = vmId,
        ["state"] = (int)Enum.Parse<Paddock.Engine.Contract.VmPowerState>(state),
        ["observedAt"] = DateTimeOffset.UtcNow,
        ["detail"] = detail,
    };

    /// <summary>The fixture agent's host and the connection it is on.</summary>
    private async Task<(Guid Host, string? Connection, bool Connected)> MainHostConnectionAsync()
    {
        var id = Guid.Parse((await File.ReadAllTextAsync(Path.Combine(paddock.DataDir, "agent", "host-id"))).Trim());
        await using var db = new NpgsqlConnection(paddock.Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("select data->>'ConnectionId', (data->>'Connected')::boolean from paddock.mt_doc_hostrecord where id = @id", db);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (id, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1));
    }

    /// <summary>Why a call may end its own connection: a frame over the hub's limit, nested past the protocol reader's 64 levels, or cut off.</summary>
    [GeneratedRegex("""100 KB|fuzz-0123456789|5000 deep|cut-off JSON|\[{20}|(\{"a":){4}""")]
    private static partial Regex OverTheLimit();
}
