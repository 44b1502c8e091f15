using System.Net;
using Microsoft.Playwright;
using Npgsql;

namespace Paddock.E2e;

/// <summary>
/// Several portal processes on one database: a page served by one follows what is done through
/// another; a console opened through one reaches a host another holds, and a VM moves between hosts
/// held by different processes; revoking a host ends its
/// connection whichever portal holds it; and when a portal is
/// killed (kill -9) its hosts turn Unreachable on the others once their leases run out, then come
/// back when their agents reconnect to another portal, their VMs still running. The agent dials
/// one address in front of the portals (a load balancer's part, played by a proxy the test points
/// at the second portal, then at the first).
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class SeveralPortalsTests(PaddockFixture paddock) : IAsyncLifetime
{
    private const string HostName = "e2e-host-portals";
    private const string Agent = "agent-portals";
    private const string SecondPortal = "portal-b";

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>The agent powers its VM off as it stops; nothing of this test stays for the next.</summary>
    public async Task DisposeAsync()
    {
        await paddock.StopAgentAsync(Agent);
        await paddock.StopAgentAsync(SecondPortal);
    }

    [Fact]
    public async Task A_page_follows_changes_made_through_another_portal_and_a_killed_portals_host_turns_unreachable_then_returns_through_the_other_with_its_vm_running()
    {
        var second = await paddock.StartSecondPortalAsync(process: SecondPortal);
        await using var front = new CuttableProxy("127.0.0.1", new Uri(second).Port);
        var dataDir = Path.Combine(paddock.DataDir, Agent);
        paddock.InstallBuiltInTemplate(dataDir);
        // All the machine's memory, at the highest RAM ratio below: spread placement puts the VM here.
        // It may dial either portal process directly for a console opened there.
        paddock.StartExtraAgent(Agent, HostName, dataDir, await paddock.JoinTokenAsync(HostName), memoryMiB: 1 << 20,
            portalUrl: $"https://127.0.0.1:{front.Port}",
            settings: new Dictionary<string, string> { ["Agent__PortalAddresses__0"] = paddock.PortalUrl, ["Agent__PortalAddresses__1"] = second });

        // The first portal's Hosts page hears of a host that registered with the second.
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/hosts");
        await PaddockFixture.InteractiveAsync(admin);
        var hostState = admin.GetByLabel($"State of {HostName}");
        await Assertions.Expect(hostState).ToHaveTextAsync("Connected", new() { Timeout = 60_000 });
        var hostId = await paddock.HostIdAsync(HostName);
        var policy = await admin.APIRequest.PutAsync($"/api/hosts/{hostId}/policy",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = new { ramRatio = 16.0 } } });
        Assert.True(policy.Ok, $"host policy: {policy.Status} {await policy.TextAsync()}");

        var porter = await paddock.SignInAsync(PaddockFixture.Porter);
        var vm = await VmApi.CreateRunningAsync(porter, "portals-vm", isolated: true);
        Assert.Equal(HostName, await paddock.HostNameOfAsync(vm));
        var pid = QemuPid(dataDir, vm);

        // My VMs on the first portal (no timer of its own: only a notice re-renders it) follows power actions made through the second.
        await porter.GotoAsync("/");
        await PaddockFixture.InteractiveAsync(porter);
        var status = porter.GetByRole(AriaRole.Row).Filter(new() { HasText = "portals-vm" }).GetByRole(AriaRole.Status);
        await Assertions.Expect(status).ToHaveTextAsync("Running");
        using var throughSecond = await paddock.ApiClientAsAsync(porter, second);
        foreach (var (verb, shown) in new[] { ("pause", "Paused"), ("resume", "Running") })
        {
            using var asked = await throughSecond.PostAsync($"/api/vms/{vm}/{verb}", null);
            Assert.Equal(HttpStatusCode.Accepted, asked.StatusCode);
            await Assertions.Expect(status).ToHaveTextAsync(shown, new() { Timeout = 60_000 });
        }

        await MissedNoticesArriveOnceListeningAgainAsync(throughSecond, vm, status);

        // A console opened through the first portal, which does not hold the host: the second hands
        // the dial to the agent, and the agent dials the first directly. The guest's screen answers.
        using (var console = await paddock.OpenConsoleAsync(porter, $"/console/{vm}/ws?ticket={await PaddockFixture.ConsoleTicketAsync(porter, vm)}", paddock.PortalUrl))
        {
            Assert.NotNull(console);
            var greeting = new byte[12];
            var received = await console.ReceiveAsync(greeting, CancellationToken.None);
            Assert.Equal("RFB 003.", System.Text.Encoding.ASCII.GetString(greeting, 0, Math.Min(8, received.Count)));
        }

        // Moved to the first portal's host and back: a migration's channels meet at the process that
        // started it (the first), whichever process holds each side's agent.
        foreach (var host in new[] { "e2e-host", HostName })
        {
            var moved = await admin.APIRequest.PostAsync($"/api/vms/{vm}/migrate",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { hostId = await paddock.HostIdAsync(host) } });
            Assert.True(moved.Status == 202, $"migrate: {moved.Status} {await moved.TextAsync()}");
            await Eventually.Async(async () => await paddock.HostNameOfAsync(vm) == host && await PaddockFixture.IdleStatusAsync(porter, vm) == "Running",
                PaddockFixture.Boot, $"the VM moved to {host}");
        }

        pid = QemuPid(dataDir, vm);
        await RevokeEndsTheConnectionHeldBySecondAsync(admin, second);

        // kill -9 of the second portal: nobody renews the host's lease, and the first portal sees it
        // Unreachable (its record still said Connected) and the VM Unknown, though the VM runs on.
        await paddock.KillProcessAsync(SecondPortal);
        await Assertions.Expect(hostState).ToHaveTextAsync("Unreachable", new() { Timeout = (int)(PaddockFixture.HostGrace * 4).TotalMilliseconds });
        await Assertions.Expect(status).ToHaveTextAsync("Unknown");

        // The agent's address now leads to the first portal: it reconnects there, and reports its VM as it is.
        var back = System.Diagnostics.Stopwatch.StartNew();
        front.Retarget("127.0.0.1", new Uri(paddock.PortalUrl).Port);
        await Assertions.Expect(hostState).ToHaveTextAsync("Connected", new() { Timeout = 60_000 });
        await Assertions.Expect(status).ToHaveTextAsync("Running", new() { Timeout = 60_000 });
        paddock.RecordFaults(new Paddock.Testing.FaultRow("portal kill -9 holding an agent with 1 VM", 1, 0, 0, VmsLost: pid == QemuPid(dataDir, vm) ? 0 : 1,
            Duplicated: (await paddock.DuplicatedCompletionsAsync()).Count, Lost: 0, [back.Elapsed]));
        Assert.Equal(pid, QemuPid(dataDir, vm));

        // Through the first portal, which holds the host now.
        await VmApi.DeleteAsync(porter, vm);
    }

    /// <summary>
    /// The first portal's listening connection is cut again and again (PostgreSQL ends it) while the VM
    /// is paused through the second: NOTIFY keeps nothing for it, but once it listens again it reads
    /// the notice from the table, and My VMs shows Paused without a reload.
    /// </summary>
    private async Task MissedNoticesArriveOnceListeningAgainAsync(HttpClient throughSecond, Guid vm, ILocator status)
    {
        // The resume before this shows Running a moment before its task ends: a pause asked in between is refused as in progress.
        await Eventually.Async(async () => (await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.JsonElement>(throughSecond, $"/api/vms/{vm}"))
            .GetProperty("pendingOperation").ValueKind == System.Text.Json.JsonValueKind.Null, TimeSpan.FromSeconds(60), "the resume's task to end");
        await using var db = new NpgsqlConnection(paddock.Connection);
        await db.OpenAsync();
        var listener = $"paddock-changes {paddock.PortalPid}";
        var ended = 0;
        using var stop = new CancellationTokenSource();
        // (CASE: the listener alone is ended; with AND PostgreSQL may call the function on every process first.)
        var cutting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await using var cut = new NpgsqlCommand("select count(*) from pg_stat_activity where case when application_name = @name then pg_terminate_backend(pid) else false end", db);
                cut.Parameters.AddWithValue("name", listener);
                Interlocked.Add(ref ended, (int)(long)(await cut.ExecuteScalarAsync())!);
                await Task.Delay(20);
            }
        });
        try
        {
            await Eventually.Async(() => Task.FromResult(Volatile.Read(ref ended) > 0), TimeSpan.FromSeconds(30), "the first portal's listening connection cut");
            using (var paused = await throughSecond.PostAsync($"/api/vms/{vm}/pause", null))
            {
                Assert.Equal(HttpStatusCode.Accepted, paused.StatusCode);
            }

            // Paused in the store, and the notice of the VM's latest write sent (and kept) while the first was not listening.
            await Eventually.Async(async () =>
            {
                var read = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.JsonElement>(throughSecond, $"/api/vms/{vm}");
                await using var store = new NpgsqlConnection(paddock.Connection);
                await store.OpenAsync();
                await using var kept = new NpgsqlCommand(
                    "select count(*) from paddock.change_notices n, paddock.mt_doc_vm v where v.id = @id and n.payload like @vm and n.at >= v.mt_last_modified", store);
                kept.Parameters.AddWithValue("id", vm);
                kept.Parameters.AddWithValue("vm", $"%{vm}%");
                return read.GetProperty("status").GetString() == "Paused" && read.GetProperty("pendingOperation").ValueKind == System.Text.Json.JsonValueKind.Null
                    && (long)(await kept.ExecuteScalarAsync())! > 0;
            }, TimeSpan.FromSeconds(60), "the VM paused, its task ended, and the notice of that kept");
        }
        finally
        {
            await stop.CancelAsync();
            await cutting;
        }

        var heard = System.Diagnostics.Stopwatch.StartNew();
        await Assertions.Expect(status).ToHaveTextAsync("Paused", new() { Timeout = 60_000 });
        paddock.RecordFaults(new Paddock.Testing.FaultRow("a portal's listening connection cut", ended, 1, 0, 0,
            Duplicated: 0, Lost: await status.TextContentAsync() == "Paused" ? 0 : 1, [heard.Elapsed]));
        // The notices read on listening again reach the page before that is logged, and the log is written a moment later.
        await Eventually.Async(() => Task.FromResult(paddock.LogOf("portal").Contains("Listening again for changes made through other portal processes; read", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "the first portal to log that it listens again");
        using var resumed = await throughSecond.PostAsync($"/api/vms/{vm}/resume", null);
        Assert.Equal(HttpStatusCode.Accepted, resumed.StatusCode);
        await Assertions.Expect(status).ToHaveTextAsync("Running", new() { Timeout = 60_000 });
    }

    /// <summary>A host connected to the second portal, revoked through the first: the second ends its connection.</summary>
    private async Task RevokeEndsTheConnectionHeldBySecondAsync(IPage admin, string second)
    {
        var host = await FuzzHost.EnrollAsync(paddock, "portals-revoked");
        await using var connection = await host.ConnectAsync(paddock, portalUrl: second);
        await Assertions.Expect(admin.GetByLabel($"State of {host.Name}")).ToHaveTextAsync("Connected");
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Revoke {host.Name}" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Assertions.Expect(admin.GetByLabel($"State of {host.Name}")).ToHaveTextAsync("Revoked");
        await Eventually.Async(() => !connection.IsOpen, TimeSpan.FromSeconds(30), "the second portal to end the revoked host's connection");
    }

    private static int QemuPid(string agentDir, Guid vm) =>
        int.Parse(File.ReadAllText(Path.Combine(agentDir, "vms", vm.ToString(), "qemu", "qemu.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
