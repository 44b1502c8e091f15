using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// The agent's outbox and journal (#20): the run's agent dials the portal through a proxy the test
/// cuts. An operation that ends while the portal is out of reach shows its true end once the path
/// is back, recorded once; so does one whose agent was killed after it journaled the end; and a
/// spec.json that does not read holds its VM with an alert instead of stopping the agent.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class AgentOutboxTests(PaddockFixture paddock) : IAsyncLifetime
{
    private static readonly Dictionary<string, string> Api = PaddockFixture.ApiHeaders;
    private bool _behindProxy;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After the test, even a failed one: the agent behind the proxy goes and the usual one runs again for the tests that follow.</summary>
    public async Task DisposeAsync()
    {
        if (_behindProxy)
        {
            await paddock.StopAgentAsync("agent");
        }

        await paddock.EnsureAgentAsync();
    }

    [Fact]
    public async Task Outcomes_that_end_while_the_portal_is_out_of_reach_arrive_once_after_the_cut_and_after_a_kill_9_and_a_corrupt_spec_only_holds_its_vm()
    {
        var portal = new Uri(paddock.PortalUrl);
        await using var proxy = new CuttableProxy(portal.Host, portal.Port);
        var killedAt = DateTimeOffset.UtcNow;
        await paddock.KillAgentAsync();
        _behindProxy = true;
        paddock.StartAgent($"https://127.0.0.1:{proxy.Port}");
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(60), "the agent behind the proxy to register");

        var page = await paddock.SignInAsync(PaddockFixture.Obi);
        Guid[] vms = [await CreateAsync(page, "obi-a"), await CreateAsync(page, "obi-b"), await CreateAsync(page, "obi-c")];
        var (a, b, c) = (vms[0], vms[1], vms[2]);
        foreach (var vm in vms)
        {
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Running", PaddockFixture.Boot, "the VM to run");
            await GuestSerial.WaitForShellAsync(Dir(vm));
        }

        // A and B answer the power button by saying so and staying on: their Shutdown ends when the test powers them off from inside.
        foreach (var vm in new[] { a, b })
        {
            var seen = await GuestSerial.RunAsync(Dir(vm), """printf '#!/bin/sh\necho power-"pressed" >/dev/console\n' >/etc/acpi/power.sh; echo set-"up" """, until: "set-up");
            Assert.Contains("set-up", seen);
        }

        // (a) The Shutdown ends while the agent cannot reach the portal; the same agent delivers it once the path is back.
        var agentLog = Regex.Count(paddock.LogOf("agent"), @"\(1 outcomes handed over\)");
        var first = await ShutdownEndedBehindTheCutAsync(page, proxy, a);
        proxy.Mend();
        await SucceededOnceAsync(page, a, first);
        Assert.Equal(agentLog + 1, Regex.Count(paddock.LogOf("agent"), @"\(1 outcomes handed over\)"));

        // (b) The agent is killed after it journaled B's end and before the portal took it: the next agent delivers it.
        var cPid = Pid(c);
        var second = await ShutdownEndedBehindTheCutAsync(page, proxy, b);
        var restartedAt = DateTimeOffset.UtcNow;
        await paddock.KillAgentAsync();

        // (c) Meanwhile A's record on the host is broken: the new agent holds A and takes up the others.
        await File.WriteAllTextAsync(Path.Combine(Dir(a), "spec.json"), "{\"Id\": \"torn");
        proxy.Mend();
        paddock.StartAgent($"https://127.0.0.1:{proxy.Port}");
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: restartedAt) > 0, TimeSpan.FromSeconds(60), "the new agent to register");
        await SucceededOnceAsync(page, b, second);

        Assert.False(File.Exists(Path.Combine(Dir(a), "spec.json")));
        Assert.Equal("{\"Id\": \"torn", await File.ReadAllTextAsync(Assert.Single(Directory.GetFiles(Dir(a), "spec.json.corrupt-*"))));
        await Eventually.Async(async () => (await ViewAsync(page, a)).GetProperty("startHeld").GetBoolean(), TimeSpan.FromSeconds(30), "A to be held");
        Assert.Equal(1, await paddock.CountAsync(
            "select count(*) from paddock.mt_events where stream_id = @id and type = 'vm_isolation_mismatch' and data->>'Detail' like '%spec.json%moved aside%'", ("id", a)));
        Assert.Equal(cPid, Pid(c));
        Assert.Equal("Running", await PaddockFixture.IdleStatusAsync(page, c));
        Assert.False((await ViewAsync(page, c)).GetProperty("startHeld").GetBoolean());
        Assert.Equal("Stopped", await PaddockFixture.IdleStatusAsync(page, b));

        // Resolving the alert sends the portal's record: the host holds A's spec again and A is no longer held.
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        Assert.Equal(202, (await admin.APIRequest.PostAsync($"/api/vms/{a}/isolation/resolve", new() { Headers = Api })).Status);
        await Eventually.Async(() => File.Exists(Path.Combine(Dir(a), "spec.json")), TimeSpan.FromSeconds(30), "the portal's record on the host");
        using (var spec = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Dir(a), "spec.json"))))
        {
            Assert.Equal(a, spec.RootElement.GetProperty("Id").GetGuid());
        }

        await Eventually.Async(async () => !(await ViewAsync(page, a)).GetProperty("startHeld").GetBoolean(), TimeSpan.FromSeconds(30), "A's hold to end");

        foreach (var vm in vms)
        {
            if (await PaddockFixture.IdleStatusAsync(page, vm) == "Running")
            {
                await RunAsync(page, vm, "poweroff");
                await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Stopped", TimeSpan.FromSeconds(60), "the VM to stop");
            }

            await RunAsync(page, vm, "delete");
            await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{vm}")).Status == 404, TimeSpan.FromSeconds(60), "the VM to go");
        }

        Assert.Empty(await paddock.DuplicatedCompletionsAsync());
        await admin.Context.CloseAsync();
        await page.Context.CloseAsync();
    }

    /// <summary>
    /// Asks for a Shutdown, cuts the path once the guest saw the power button (the agent runs it),
    /// powers the guest off from inside, and waits until the agent's journal holds the end. The
    /// portal has not heard of it: the task still runs there.
    /// </summary>
    private async Task<(Guid Operation, DateTimeOffset CutAt)> ShutdownEndedBehindTheCutAsync(IPage page, CuttableProxy proxy, Guid vm)
    {
        var pressed = Regex.Count(GuestSerial.Read(Log(vm)), "power-pressed");
        await RunAsync(page, vm, "shutdown");
        await Eventually.Async(() => Regex.Count(GuestSerial.Read(Log(vm)), "power-pressed") > pressed, TimeSpan.FromSeconds(60), "the guest to see the power button");
        var cutAt = DateTimeOffset.UtcNow;
        proxy.Cut();
        var task = Assert.Single(await TasksAsync(page, vm, "Shutdown"), t => t.GetProperty("state").GetString() == "Running");
        var operation = Guid.Parse(task.GetProperty("operationId").GetString()!);
        await GuestSerial.TypeAsync(Dir(vm), "poweroff -f");
        await Eventually.Async(() => GuestSerial.Read(Path.Combine(paddock.DataDir, "agent", "operations.jsonl")).Contains(operation.ToString()),
            TimeSpan.FromSeconds(60), "the agent to journal the end");
        Assert.Equal("Running", (await TasksAsync(page, vm, "Shutdown")).Single(t => t.GetProperty("operationId").GetString() == operation.ToString())
            .GetProperty("state").GetString());
        return (operation, cutAt);
    }

    /// <summary>
    /// The operation's task ends Succeeded, no Shutdown task of the VM still runs, its end is recorded
    /// once, and it came from the agent's outbox: the portal never sent the command again after the cut
    /// (a resend, answered from the journal, would have shown the end too).
    /// </summary>
    private async Task SucceededOnceAsync(IPage page, Guid vm, (Guid Operation, DateTimeOffset CutAt) ended)
    {
        var operation = ended.Operation;
        await Eventually.Async(
            async () => (await TasksAsync(page, vm, "Shutdown")).Single(t => t.GetProperty("operationId").GetString() == operation.ToString())
                .GetProperty("state").GetString() == "Succeeded",
            TimeSpan.FromSeconds(60), "the Shutdown to show its true end");
        Assert.DoesNotContain(await TasksAsync(page, vm, "Shutdown"), t => t.GetProperty("state").GetString() != "Succeeded");
        Assert.Equal(1, await paddock.CompletionsAsync(vm, operation));
        Assert.Equal(1, await paddock.CountAsync(
            "select count(*) from paddock.mt_doc_agentcommand where id = @id and (data->>'SentAt')::timestamptz < @cut", ("id", operation), ("cut", ended.CutAt)));
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Stopped", TimeSpan.FromSeconds(30), "the VM to show Stopped");
    }

    private static async Task<Guid> CreateAsync(IPage page, string name)
    {
        var created = await page.APIRequest.PostAsync("/api/vms", new() { DataObject = new { name, vCpus = 1, memoryMiB = 128 }, Headers = Api });
        Assert.Equal(201, created.Status);
        return Guid.Parse((await created.JsonAsync())!.Value.GetProperty("id").GetString()!);
    }

    private static async Task RunAsync(IPage page, Guid vm, string verb) =>
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/{verb}", new() { Headers = Api })).Status);

    private static async Task<JsonElement> ViewAsync(IPage page, Guid vm) => (await (await page.APIRequest.GetAsync($"/api/vms/{vm}")).JsonAsync())!.Value;

    private static async Task<List<JsonElement>> TasksAsync(IPage page, Guid vm, string verb) =>
        [.. (await (await page.APIRequest.GetAsync($"/api/vms/{vm}/tasks")).JsonAsync())!.Value.EnumerateArray().Where(t => t.GetProperty("verb").GetString() == verb)];

    private string Dir(Guid vm) => Path.Combine(paddock.VmsDir, vm.ToString());

    private string Log(Guid vm) => Path.Combine(Dir(vm), "serial.log");

    private int Pid(Guid vm) => int.Parse(File.ReadAllText(Path.Combine(Dir(vm), "qemu", "qemu.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
