using Paddock.Testing;
using Xunit.Abstractions;

namespace Paddock.E2e;

/// <summary>
/// Issue #20's fault suite at CI size: two VMs under a mixed workload (pause, resume, power off,
/// snapshot, start) while the portal the agent dials is killed with kill -9 five times at random
/// points, then while PostgreSQL is stopped for 3 s and started again, twice. No VM is lost, no operation runs twice or is
/// lost, every VM shows its true state again, and the portal lives through the database's
/// restarts as the same process. <c>./paddock bench faults</c> runs the same scenarios larger.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class FaultSuiteTests(PaddockFixture paddock, ITestOutputHelper output) : IAsyncLifetime, IFaultTarget
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After the test, even a failed one: the portal it killed runs again as the run started it, and the agent it killed is registered, for the tests that follow.</summary>
    public async Task DisposeAsync()
    {
        await paddock.RestorePortalAsync();
        await paddock.EnsureAgentAsync();
        await paddock.FirstAgentRegisteredAsync();
    }

    [Fact]
    public async Task Five_portal_kills_and_two_database_restarts_under_a_workload_lose_no_vm_and_run_every_operation_once()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Fay);
        var ids = new[] { await VmApi.CreateRunningAsync(page, "fay-one"), await VmApi.CreateRunningAsync(page, "fay-two") };
        try
        {
            using var api = await paddock.ApiClientAsAsync(page, paddock.PortalUrl);
            var seed = Environment.TickCount;
            output.WriteLine($"seed {seed}");
            var suite = new FaultSuite(this, [.. ids.Select(id => new FaultWorkload(api, id))], seed, output.WriteLine);
            using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(10));

            var kills = await suite.PortalKillsAsync(5, cancel.Token);
            var portal = paddock.PortalPid;
            var agent = paddock.AgentPid;
            var restarts = await suite.DatabaseRestartsAsync(2, TimeSpan.FromSeconds(3), cancel.Token);
            // Readiness said so while PostgreSQL was away, and is back; liveness never asks the store.
            Assert.Equal([true, true], _unready);
            using var anonymous = paddock.NewHttpClient();
            await Eventually.Async(async () => (await anonymous.GetAsync("/readyz")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "/readyz healthy again");
            Assert.Contains("\"database\":{\"status\":\"Healthy\"", await anonymous.GetStringAsync("/readyz"));
            Assert.Equal("Healthy", await anonymous.GetStringAsync("/healthz"));

            var table = FaultSuite.Table([kills, restarts]);
            output.WriteLine(table);
            paddock.RecordFaults(kills);
            paddock.RecordFaults(restarts);
            Assert.True(kills.Clean && restarts.Clean, table);
            // Every operation of the workload was asked for, and most were carried out: the suite did not idle.
            Assert.True(kills.Operations >= 10 && restarts.Operations >= 4, table);
            // The database's restarts stopped neither the portal nor the agent, and no background loop ended.
            Assert.Equal(portal, paddock.PortalPid);
            Assert.False(System.Diagnostics.Process.GetProcessById(portal).HasExited);
            Assert.Equal(agent, paddock.AgentPid);
            Assert.DoesNotContain("BackgroundService failed", paddock.LogOf("portal"));

            await AnOperationWhoseHostStaysAwayEndsFailedSayingWhyAsync(suite, api);
            foreach (var id in ids)
            {
                await VmApi.DeleteAsync(page, id);
            }
        }
        finally
        {
            // A failure half-way leaves no VM behind: the tests after this one need the host's room.
            foreach (var id in ids)
            {
                await VmApi.LeaveNoVmAsync(page, id);
            }
        }

        await page.Context.CloseAsync();
    }

    /// <summary>
    /// No task in progress for ever: with a portal that gives up after 5 s, an operation asked while
    /// the agent is away ends as failed, saying why; it never ran, and the VM's state holds once the
    /// agent is back.
    /// </summary>
    private async Task AnOperationWhoseHostStaysAwayEndsFailedSayingWhyAsync(FaultSuite suite, HttpClient api)
    {
        await paddock.KillPortalAsync();
        await paddock.EnsurePortalAsync(new Dictionary<string, string> { ["Paddock__GiveUpAfter"] = "00:00:05" });
        await paddock.FirstAgentRegisteredAsync();
        var vm = suite.Vms[0];
        // As the agent has reported it to this portal: a portal that started after the host's lease ran
        // out shows its VMs Unknown until the agent's registration says otherwise.
        var status = "";
        await Eventually.Async(async () => await vm.ReadAsync(CancellationToken.None) is (var read, true) && (status = read) != "Unknown",
            TimeSpan.FromSeconds(60), "the VM's state as its agent reported it");
        await paddock.KillAgentAsync();
        await vm.NextAsync(status, CancellationToken.None);
        Assert.True(vm.Requests[^1].Answer == Answer.Accepted, $"asked of a VM {status} whose agent was just killed: {vm.LastRefusal}");
        var asked = (await vm.TasksAsync(CancellationToken.None))[0];
        Assert.Equal("Running", asked.State);
        string? message = null;
        await Eventually.Async(
            async () => (message = await TaskMessageAsync(api, vm.VmId, asked.Id)) is not null, TimeSpan.FromSeconds(90), "the task given up");
        Assert.Matches("^Its host e2e-host has been away for more than 5 seconds: .+ was never sent to it and is given up\\.$", message);
        await paddock.EnsureAgentAsync();
        await paddock.RestorePortalAsync();
        await paddock.FirstAgentRegisteredAsync();
        Assert.DoesNotContain($"as operation {asked.Id}", paddock.LogOf("agent"));
        await Eventually.Async(async () => await vm.ReadAsync(CancellationToken.None) is (var now, true) && now == status,
            TimeSpan.FromSeconds(60), "the VM as it was");
    }

    /// <summary>The message of the VM's task once it has failed; null before.</summary>
    private static async Task<string?> TaskMessageAsync(HttpClient api, Guid vmId, Guid operationId)
    {
        var tasks = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.JsonElement>(api, $"/api/vms/{vmId}/tasks");
        var task = tasks.EnumerateArray().Single(t => t.GetProperty("operationId").GetGuid() == operationId);
        return task.GetProperty("state").GetString() == "Failed" ? task.GetProperty("message").GetString() : null;
    }

    string IFaultTarget.Connection => paddock.Connection;

    Task IFaultTarget.KillPortalAsync() => paddock.KillPortalAsync();

    Task IFaultTarget.StartPortalAsync() => paddock.EnsurePortalAsync();

    /// <summary>Per database restart: whether /readyz answered 503 while PostgreSQL was stopped.</summary>
    private readonly List<bool> _unready = [];

    async Task IFaultTarget.RestartDatabaseAsync(TimeSpan down)
    {
        using var stop = new CancellationTokenSource();
        var probe = UnreadySeenAsync(stop.Token);
        await paddock.RestartDatabaseAsync(down);
        await stop.CancelAsync();
        _unready.Add(await probe);
    }

    /// <summary>Asks /readyz every 200 ms until <paramref name="stop"/>; whether it ever answered 503 saying the database is unhealthy.</summary>
    private async Task<bool> UnreadySeenAsync(CancellationToken stop)
    {
        using var http = paddock.NewHttpClient();
        var seen = false;
        while (!seen && !stop.IsCancellationRequested)
        {
            try
            {
                using var answer = await http.GetAsync("/readyz", stop);
                seen = (int)answer.StatusCode == 503 && (await answer.Content.ReadAsStringAsync(stop)).Contains("\"database\":{\"status\":\"Unhealthy\"", StringComparison.Ordinal);
                await Task.Delay(200, stop);
            }
            catch (HttpRequestException)
            {
                await Task.Delay(200, CancellationToken.None);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return seen;
    }

    string IFaultTarget.AgentLog() => paddock.LogOf("agent");
}
