using System.Text;
using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class AgentKillTests(PaddockFixture paddock)
{
    private static readonly Dictionary<string, string> Api = PaddockFixture.ApiHeaders;

    [Fact]
    public async Task After_kill_9_of_the_agent_both_vms_run_on_are_reattached_and_a_command_sent_meanwhile_runs_exactly_once()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Erin);
        var first = await CreateRunningAsync(page, "erin-one");
        var second = await CreateRunningAsync(page, "erin-two");
        var vms = new[] { first, second };
        foreach (var vm in vms)
        {
            await Eventually.Async(() => GuestSerial.Banners(Log(vm)) == 1, TimeSpan.FromSeconds(120), "the guest's shell");
            await GuestSerial.StartCounterAsync(Dir(vm));
        }

        var pids = vms.Select(vm => Pid(vm)).ToArray();
        var killedAt = DateTimeOffset.UtcNow;
        await paddock.KillAgentAsync();

        // While the agent is away the portal takes the request, records it, and holds it.
        var pause = await page.APIRequest.PostAsync($"/api/vms/{second}/pause", new() { Headers = Api });
        Assert.Equal(202, pause.Status);
        var pauseTask = (await TasksAsync(page, second)).First(t => t.GetProperty("verb").GetString() == "Pause");
        Assert.Equal("Running", pauseTask.GetProperty("state").GetString());

        paddock.StartAgent();
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(60), "the new agent to register");

        // Both QEMUs lived through it, and the new agent carried out the held Pause once.
        Assert.Equal(pids, vms.Select(vm => Pid(vm)).ToArray());
        await Eventually.Async(async () => await StatusAsync(page, second) == "Paused", TimeSpan.FromSeconds(60), "the held Pause to run");
        await Eventually.Async(async () => (await TasksAsync(page, second)).First(t => t.GetProperty("verb").GetString() == "Pause").GetProperty("state").GetString() == "Succeeded", TimeSpan.FromSeconds(30), "the Pause task to end");
        Assert.Equal(1, await paddock.CompletionsAsync(second, Guid.Parse(pauseTask.GetProperty("operationId").GetString()!)));
        Assert.Equal("Running", await StatusAsync(page, first));

        // Each VM still obeys and shows its screen through the new agent; the guests never stopped counting.
        foreach (var vm in vms)
        {
            if (await StatusAsync(page, vm) == "Running")
            {
                await RequestAsync(page, vm, "pause");
                await Eventually.Async(async () => await StatusAsync(page, vm) == "Paused", TimeSpan.FromSeconds(30), "Paused");
            }

            await RequestAsync(page, vm, "resume");
            await Eventually.Async(async () => await StatusAsync(page, vm) == "Running", TimeSpan.FromSeconds(30), "Running");
            await Eventually.Async(() => GuestSerial.LastTick(Log(vm)) > 0, TimeSpan.FromSeconds(30), "ticks");
            Assert.Equal("RFB 003.", await RfbGreetingAsync(page, vm));
            var before = GuestSerial.LastTick(Log(vm));
            await Eventually.Async(() => GuestSerial.LastTick(Log(vm)) > before + 2, TimeSpan.FromSeconds(30), "the counter to go on");
            Assert.True(GuestSerial.TicksWithoutGap(Log(vm)), "the guest's counter has no gap");
        }

        // A re-attached QEMU is not the agent's child: its death is still noticed at once.
        var crashAt = DateTimeOffset.UtcNow;
        using (var kill = System.Diagnostics.Process.Start("kill", ["-KILL", Pid(first).ToString()]))
        {
            await kill.WaitForExitAsync();
        }

        await Eventually.Async(async () => await StatusAsync(page, first) == "Crashed", TimeSpan.FromSeconds(10), "the crash to be noticed");
        var noticed = await paddock.FirstObservedAtAsync(first, "Crashed");
        Assert.True(noticed - crashAt < TimeSpan.FromSeconds(2), $"noticed after {(noticed - crashAt).TotalMilliseconds:0} ms");

        foreach (var vm in vms)
        {
            if (await StatusAsync(page, vm) != "Crashed")
            {
                await RequestAsync(page, vm, "poweroff");
                await Eventually.Async(async () => await StatusAsync(page, vm) == "Stopped", TimeSpan.FromSeconds(30), "Stopped");
            }

            await RequestAsync(page, vm, "delete");
        }

        // However often commands were resent, no operation's outcome is recorded twice anywhere.
        Assert.Empty(await paddock.DuplicatedCompletionsAsync());
        await page.Context.CloseAsync();
    }

    private async Task<Guid> CreateRunningAsync(IPage page, string name)
    {
        var created = await page.APIRequest.PostAsync("/api/vms", new() { DataObject = new { name, vCpus = 1, memoryMiB = 192 }, Headers = Api });
        Assert.Equal(201, created.Status);
        var id = Guid.Parse((await created.JsonAsync())!.Value.GetProperty("id").GetString()!);
        await Eventually.Async(async () => await StatusAsync(page, id) == "Running", TimeSpan.FromSeconds(120), $"{name} to run");
        return id;
    }

    private string Dir(Guid vm) => Path.Combine(paddock.VmsDir, vm.ToString());

    private string Log(Guid vm) => Path.Combine(Dir(vm), "serial.log");

    private int Pid(Guid vm) => int.Parse(File.ReadAllText(Path.Combine(Dir(vm), "qemu.pid")).Trim());

    private static async Task RequestAsync(IPage page, Guid vm, string verb) =>
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/{verb}", new() { Headers = Api })).Status);

    private static Task<string?> StatusAsync(IPage page, Guid vm) => PaddockFixture.VmStatusAsync(page, vm);

    private static async Task<List<JsonElement>> TasksAsync(IPage page, Guid vm) =>
        [.. (await (await page.APIRequest.GetAsync($"/api/vms/{vm}/tasks")).JsonAsync())!.Value.EnumerateArray()];

    private async Task<string> RfbGreetingAsync(IPage page, Guid vm)
    {
        using var socket = await paddock.OpenConsoleAsync(page, $"/console/{vm}/ws?ticket={await PaddockFixture.ConsoleTicketAsync(page, vm)}", paddock.PortalUrl);
        var greeting = new byte[12];
        var received = await socket!.ReceiveAsync(greeting, CancellationToken.None);
        return Encoding.ASCII.GetString(greeting, 0, Math.Min(8, received.Count));
    }
}
