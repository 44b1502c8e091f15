using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Paddock.Testing;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class AgentKillTests(PaddockFixture paddock) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After each test, even a failed one: the agent it killed runs again for the tests that follow.</summary>
    public Task DisposeAsync() => paddock.EnsureAgentAsync();

    private static readonly Dictionary<string, string> Api = PaddockFixture.ApiHeaders;

    [Fact]
    public async Task After_kill_9_of_the_agent_both_vms_run_on_are_reattached_half_written_files_go_and_a_command_sent_meanwhile_runs_exactly_once()
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

        // What an agent killed mid-operation leaves half-written; the next one removes it before anything runs.
        string[] leftovers =
        [
            Path.Combine(Dir(first), "state.sav.partial"),
            Path.Combine(Dir(first), "save.sock"),
            Path.Combine(Dir(second), $"spec.json.{Guid.NewGuid():N}.tmp"),
            Path.Combine(paddock.ImagesDir, $".partial-{Guid.NewGuid():N}.qcow2"),
        ];
        foreach (var leftover in leftovers)
        {
            await File.WriteAllTextAsync(leftover, "half");
        }

        // While the agent is away the portal takes the request, records it, and holds it.
        var pause = await page.APIRequest.PostAsync($"/api/vms/{second}/pause", new() { Headers = Api });
        Assert.Equal(202, pause.Status);
        var pauseTask = (await TasksAsync(page, second)).First(t => t.GetProperty("verb").GetString() == "Pause");
        Assert.Equal("Running", pauseTask.GetProperty("state").GetString());

        var recovery = System.Diagnostics.Stopwatch.StartNew();
        paddock.StartAgent();
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(60), "the new agent to register");

        // Both QEMUs lived through it, and the new agent carried out the held Pause once.
        var lived = vms.Select(vm => Pid(vm)).Zip(pids).Count(p => p.First == p.Second);
        Assert.Equal(pids, vms.Select(vm => Pid(vm)).ToArray());
        Assert.All(leftovers, leftover => Assert.False(File.Exists(leftover), $"{leftover} left"));
        await Eventually.Async(async () => await StatusAsync(page, second) == "Paused", TimeSpan.FromSeconds(60), "the held Pause to run");
        await Eventually.Async(
            async () => (await TasksAsync(page, second)).First(t => t.GetProperty("verb").GetString() == "Pause")
                .GetProperty("state").GetString() == "Succeeded",
            TimeSpan.FromSeconds(30), "the Pause task to end");
        recovery.Stop();
        var pauseRuns = await paddock.CompletionsAsync(second, Guid.Parse(pauseTask.GetProperty("operationId").GetString()!));
        Assert.Equal(1, pauseRuns);
        Assert.Equal("Running", await StatusAsync(page, first));

        // Each VM still obeys and shows its screen through the new agent; the guests never stopped counting.
        foreach (var vm in vms)
        {
            if (await StatusAsync(page, vm) == "Running")
            {
                await RunOperationAsync(page, vm, "pause");
                await Eventually.Async(async () => await StatusAsync(page, vm) == "Paused", TimeSpan.FromSeconds(30), "Paused");
            }

            await RunOperationAsync(page, vm, "resume");
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
                await RunOperationAsync(page, vm, "poweroff");
                await Eventually.Async(async () => await StatusAsync(page, vm) == "Stopped", TimeSpan.FromSeconds(30), "Stopped");
            }

            await RunOperationAsync(page, vm, "delete");
        }

        // However often commands were resent, no operation's outcome is recorded twice anywhere.
        var twice = await paddock.DuplicatedCompletionsAsync();
        paddock.RecordFaults(new FaultRow("agent kill -9 with 2 VMs, 1 operation held", 1, 1, 0,
            VmsLost: vms.Length - lived, Duplicated: twice.Count + (int)Math.Max(0, pauseRuns - 1), Lost: pauseRuns == 0 ? 1 : 0, [recovery.Elapsed]));
        Assert.Empty(twice);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task An_agent_killed_in_the_middle_of_a_save_or_a_snapshot_leaves_the_guest_running_and_the_resent_command_completes_once()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Erin);
        var vm = await CreateRunningAsync(page, "erin-saves");
        await Eventually.Async(() => GuestSerial.Banners(Log(vm)) == 1, TimeSpan.FromSeconds(120), "the guest's shell");
        // 64 MiB of random bytes in the guest's memory: the state streams through the agent for a while.
        await GuestSerial.RunAsync(Dir(vm), "dd if=/dev/urandom of=/run/fill bs=1M count=64 2>/dev/null; echo done-\"fill\"", until: "done-fill", within: TimeSpan.FromSeconds(120));
        await GuestSerial.StartCounterAsync(Dir(vm));
        var pid = Pid(vm);
        var partial = Path.Combine(Dir(vm), "state.sav.partial");
        var state = Path.Combine(Dir(vm), "state.sav");

        await RunOperationAsync(page, vm, "save");
        await Eventually.Async(() => File.Exists(partial), TimeSpan.FromSeconds(60), "the state streaming", poll: TimeSpan.FromMilliseconds(5));
        await paddock.KillAgentAsync();
        Assert.False(File.Exists(state), "the save had ended before the kill");

        // The stream broke with the agent: QEMU gave the save up and its guest runs on.
        var before = GuestSerial.LastTick(Log(vm));
        await Eventually.Async(() => GuestSerial.LastTick(Log(vm)) > before + 2, TimeSpan.FromSeconds(30), "the guest counting with no agent");
        Assert.Equal(pid, Pid(vm));

        // The next agent removes the half-written state, and the portal's resend saves the VM once.
        var recovery = System.Diagnostics.Stopwatch.StartNew();
        paddock.StartAgent();
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Saved", PaddockFixture.Boot, "the resent save to end");
        List<TimeSpan> recoveries = [recovery.Elapsed];
        var save = (await TasksAsync(page, vm)).Single(t => t.GetProperty("verb").GetString() == "Save");
        Assert.Equal("Succeeded", save.GetProperty("state").GetString());
        var saves = await paddock.CompletionsAsync(vm, Guid.Parse(save.GetProperty("operationId").GetString()!));
        Assert.Equal(1, saves);
        Assert.True(File.Exists(state));
        Assert.False(File.Exists(partial));

        // Restored, it is the same guest: never rebooted, counting on.
        await RunOperationAsync(page, vm, "restore");
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Running", PaddockFixture.Boot, "the VM restored");
        var restored = GuestSerial.LastTick(Log(vm));
        await Eventually.Async(() => GuestSerial.LastTick(Log(vm)) > restored + 2, TimeSpan.FromSeconds(30), "the restored guest counting");
        Assert.Equal(1, GuestSerial.Banners(Log(vm)));

        // Killed while QEMU writes a snapshot into the disk (it carries on alone), the resent command
        // finds the snapshot made: one task, Succeeded, and the snapshot listed once.
        var disk = Path.Combine(Dir(vm), $"disk-{JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir(vm), "spec.json"))).RootElement.GetProperty("Disks")[0].GetProperty("Id").GetString()}.qcow2");
        var size = new FileInfo(disk).Length;
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/snapshots", new() { DataObject = new { name = "mid-kill" }, Headers = Api })).Status);
        await Eventually.Async(() => new FileInfo(disk).Length > size + (8 << 20), TimeSpan.FromSeconds(60), "the snapshot being written", poll: TimeSpan.FromMilliseconds(5));
        await paddock.KillAgentAsync();
        recovery.Restart();
        paddock.StartAgent();
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Running", PaddockFixture.Boot, "the resent snapshot to end");
        recoveries.Add(recovery.Elapsed);
        var snapshot = (await TasksAsync(page, vm)).Single(t => t.GetProperty("verb").GetString() == "Snapshot");
        Assert.Equal("Succeeded", snapshot.GetProperty("state").GetString());
        var snapshotRuns = await paddock.CompletionsAsync(vm, Guid.Parse(snapshot.GetProperty("operationId").GetString()!));
        Assert.Equal(1, snapshotRuns);
        var snapshots = (await VmApi.GetAsync(page, vm)).GetProperty("snapshots").EnumerateArray().ToList();
        Assert.Equal("mid-kill", Assert.Single(snapshots).GetProperty("name").GetString());
        var banners = GuestSerial.Banners(Log(vm));

        await VmApi.DeleteAsync(page, vm);
        var twice = await paddock.DuplicatedCompletionsAsync();
        paddock.RecordFaults(new FaultRow("agent kill -9 mid save, mid snapshot", 2, 2, 0, VmsLost: banners == 1 ? 0 : 1,
            Duplicated: twice.Count + (int)(Math.Max(0, saves - 1) + Math.Max(0, snapshotRuns - 1)), Lost: (saves == 0 ? 1 : 0) + (snapshotRuns == 0 ? 1 : 0), recoveries));
        Assert.Empty(twice);
        await page.Context.CloseAsync();
    }

    private static async Task<Guid> CreateRunningAsync(IPage page, string name)
    {
        var created = await page.APIRequest.PostAsync("/api/vms", new() { DataObject = new { name, vCpus = 1, memoryMiB = 192 }, Headers = Api });
        Assert.Equal(201, created.Status);
        var id = Guid.Parse((await created.JsonAsync())!.Value.GetProperty("id").GetString()!);
        await Eventually.Async(async () => await StatusAsync(page, id) == "Running", TimeSpan.FromSeconds(120), $"{name} to run");
        return id;
    }

    private string Dir(Guid vm) => Path.Combine(paddock.VmsDir, vm.ToString());

    private string Log(Guid vm) => Path.Combine(Dir(vm), "serial.log");

    private int Pid(Guid vm) => int.Parse(File.ReadAllText(Path.Combine(Dir(vm), "qemu", "qemu.pid")).Trim());

    private static async Task RunOperationAsync(IPage page, Guid vm, string verb) =>
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/{verb}", new() { Headers = Api })).Status);

    private static Task<string?> StatusAsync(IPage page, Guid vm) => PaddockFixture.VmStatusAsync(page, vm);

    private static async Task<List<JsonElement>> TasksAsync(IPage page, Guid vm) =>
        [.. (await (await page.APIRequest.GetAsync($"/api/vms/{vm}/tasks")).JsonAsync())!.Value.EnumerateArray()];

    private async Task<string> RfbGreetingAsync(IPage page, Guid vm)
    {
        using var socket = await paddock.OpenConsoleAsync(page, $"/console/{vm}/ws?ticket={await PaddockFixture.ConsoleTicketAsync(page, vm)}",
            paddock.PortalUrl);
        var greeting = new byte[12];
        var received = await socket!.ReceiveAsync(greeting, CancellationToken.None);
        return Encoding.ASCII.GetString(greeting, 0, Math.Min(8, received.Count));
    }
}
