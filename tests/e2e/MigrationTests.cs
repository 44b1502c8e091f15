using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Live migration between two host agents on this machine, each with its own data directory: the
/// disks and memory travel through the portal's relay, the guest keeps running, and every way a
/// move can end early leaves the VM running on its source.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class MigrationTests(PaddockFixture paddock) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After each test, even a failed one: the agent it killed runs again for the tests that follow.</summary>
    public Task DisposeAsync() => paddock.EnsureAgentAsync();

    private const string Source = "e2e-host";
    private const string Destination = "e2e-host-2";

    [Fact]
    public async Task A_running_guest_moves_to_another_host_with_its_disk_memory_and_identity_and_keeps_counting()
    {
        await WithSecondHostAsync("mira-moves", async (owner, admin, vmId, from) =>
        {
            // Written to the disk before the move (in the linked clone's own layer), read after it.
            await GuestSerial.RunAsync(from, "echo migrate-marker | dd of=/dev/vda bs=1M seek=40 conv=fsync 2>/dev/null; echo done-\"dd\"", until: "done-dd");
            // A disk hotplugged before the move sits in another root port than a cold boot would give it: it moves too.
            var added = await owner.APIRequest.PostAsync($"/api/vms/{vmId}/hardware",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { action = "AddDisk", sizeMiB = 16 } });
            Assert.True(added.Status == 202, await added.TextAsync());
            await Eventually.Async(async () => (await VmApi.GetAsync(owner, vmId)).GetProperty("pendingOperation").ValueKind == System.Text.Json.JsonValueKind.Null,
                TimeSpan.FromSeconds(60), "the disk hotplugged");
            Assert.Equal(1, (await VmApi.GetAsync(owner, vmId)).GetProperty("extraDisks").GetArrayLength());
            await GuestSerial.StartCounterAsync(from);
            await Eventually.Async(() => GuestSerial.LastTick(Path.Combine(from, "serial.log")) >= 3, TimeSpan.FromSeconds(30), "the guest counting");
            var before = Identity(from);

            // The owner watches the serial console through the move: it reconnects to the new host by itself.
            var console = await owner.Context.NewPageAsync();
            await console.GotoAsync($"/vms/{vmId}/serial");
            await PaddockFixture.InteractiveAsync(console);
            var consoleState = console.GetByRole(AriaRole.Status, new() { Name = "Serial state" });
            await Assertions.Expect(consoleState).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });

            // The source's log goes with its directory once the guest runs on the destination: follow it until then.
            using var following = new CancellationTokenSource();
            var sourceLog = FollowLogAsync(Path.Combine(from, "serial.log"), following.Token);
            await MigrateAsync(admin, vmId, Destination);
            await Eventually.Async(async () => await paddock.HostNameOfAsync(vmId) == Destination && await PaddockFixture.IdleStatusAsync(admin, vmId) == "Running",
                PaddockFixture.Boot, "the VM running on the destination");
            await Eventually.Async(() => !Directory.Exists(from), TimeSpan.FromSeconds(30), "the source's directory removed");
            await following.CancelAsync();
            var onSource = await sourceLog;
            var sourceMax = Ticks(onSource).Max();

            var to = Path.Combine(paddock.SecondAgentVmsDir, vmId.ToString());
            var log = Path.Combine(to, "serial.log");
            try
            {
                await Eventually.Async(() => GuestSerial.LastTick(log) > sourceMax + 2, TimeSpan.FromSeconds(30), "the guest counting on the destination");
            }
            catch (TimeoutException e)
            {
                // What the guest said last on each side tells a guest that died from one whose output stalled.
                // The destination's side first: a long message is cut at its end where CI prints it.
                var said = GuestSerial.Read(log);
                throw new TimeoutException($"{e.Message} On the destination ({said.Length} bytes): ...{said[Math.Max(0, said.Length - 1500)..]} Last on the source: ...{onSource[Math.Max(0, onSource.Length - 120)..]}", e);
            }

            // The same guest went on counting: what the source printed and then the destination (a line may
            // be cut between them) holds every tick, none twice from a new start, and no banner of a boot.
            var ticks = Ticks(onSource + GuestSerial.Read(log)).ToList();
            var missing = Enumerable.Range(ticks.Min(), ticks.Max() - ticks.Min() + 1).Except(ticks).ToList();
            Assert.True(missing.Count == 0, $"ticks missing across the move: {string.Join(", ", missing)} (last on the source {sourceMax}). " +
                $"The source ended ...{onSource[Math.Max(0, onSource.Length - 200)..]} The destination began {GuestSerial.Read(log)[..Math.Min(200, GuestSerial.Read(log).Length)]}...");
            Assert.Equal(0, GuestSerial.Banners(log));
            Assert.True(GuestSerial.TicksWithoutGap(log));
            await Assertions.Expect(consoleState).ToHaveTextAsync("Reconnected", new() { Timeout = 60_000 });
            var later = GuestSerial.LastTick(log) + 2;
            await Assertions.Expect(console.GetByRole(AriaRole.Application, new() { Name = "Serial terminal" })).ToContainTextAsync($"tick-{later}", new() { Timeout = 30_000 });
            await console.CloseAsync();

            // Same identity: label, uid, MAC; QEMU runs as that uid there; the source's directory is gone.
            Assert.Equal(before, Identity(to));
            Assert.Equal(before.Uid, QemuUid(to));
            Assert.Equal(before.Mac, (await VmApi.GetAsync(owner, vmId)).GetProperty("mac").GetString());
            Assert.Equal(1, QemuCount(vmId));

            // Read from the disk, not from the guest's page cache (which moved with its memory).
            var read = await GuestSerial.RunAsync(to, "echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=1 skip=41943040 count=14 2>/dev/null; echo; echo done-\"rd\"", until: "done-rd");
            Assert.True(read.Contains("migrate-marker", StringComparison.Ordinal), read);

            // The history says who moved it, from where to where, and how long it took.
            var task = (await (await admin.APIRequest.GetAsync($"/api/vms/{vmId}/tasks")).JsonAsync())!.Value.EnumerateArray().First();
            Assert.Equal("Succeeded", task.GetProperty("state").GetString());
            Assert.Equal(PaddockFixture.AdminUser, task.GetProperty("by").GetString());
            Assert.Matches($"Moved from {Source} to {Destination} in [0-9.]+ s; downtime [0-9]+ ms", task.GetProperty("message").GetString());

            await VmApi.DeleteAsync(owner, vmId);
        });
    }

    [Fact]
    public async Task Cancelling_mid_way_leaves_the_VM_running_on_its_source_and_cleans_the_destination()
    {
        await WithSecondHostAsync("mira-stays", async (owner, admin, vmId, from) =>
        {
            await admin.GotoAsync($"/vms/{vmId}");
            await PaddockFixture.InteractiveAsync(admin);
            await MigrateSlowlyAsync(admin, vmId, from);
            var panel = admin.GetByRole(AriaRole.Region, new() { Name = "Migration" });
            await Assertions.Expect(panel.GetByTestId("migration-phase")).ToHaveTextAsync("Copying the memory", new() { Timeout = 120_000 });
            await Assertions.Expect(panel.GetByTestId("migration-ram")).ToContainTextAsync("MiB");
            Assert.Equal("Memory", await PhaseAsync(admin, vmId));
            await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "migration-progress.png") });
            var to = Path.Combine(paddock.SecondAgentVmsDir, vmId.ToString());
            Assert.True(Directory.Exists(to));

            await panel.GetByRole(AriaRole.Button, new() { Name = "Cancel migration" }).ClickAsync();
            await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Cancel migration" }).ClickAsync();
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(admin, vmId) == "Running", PaddockFixture.Boot, "the VM running again");
            await Assertions.Expect(panel).ToHaveCountAsync(0);
            var again = await admin.APIRequest.PostAsync($"/api/vms/{vmId}/migration/cancel", new() { Headers = PaddockFixture.ApiHeaders });
            Assert.Equal(409, again.Status);
            Assert.Equal(Source, await paddock.HostNameOfAsync(vmId));
            await ExpectLastTaskAsync(admin, vmId, "Failed", "Cancelled");
            await Eventually.Async(() => !Directory.Exists(to), TimeSpan.FromSeconds(30), "the destination's directory removed");
            await ExpectStillCountingAsync(from);
            await VmApi.DeleteAsync(owner, vmId);
        });
    }

    [Fact]
    public async Task Killing_the_destination_agent_mid_way_leaves_the_VM_running_on_its_source()
    {
        var (owner, admin, vmId, from) = await RunningGuestAsync("mira-survives");
        await paddock.StartSecondAgentAsync();
        var to = Path.Combine(paddock.SecondAgentVmsDir, vmId.ToString());
        try
        {
            await MigrateSlowlyAsync(admin, vmId, from);
            await Eventually.Async(async () => await PhaseAsync(admin, vmId) == "Memory", PaddockFixture.Boot, "the memory moving");
            await paddock.KillProcessAsync("agent2");

            // The channels die with the agent: the move fails and the guest runs on where it was.
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(admin, vmId) == "Running", PaddockFixture.Boot, "the VM running on its source");
            Assert.Equal(Source, await paddock.HostNameOfAsync(vmId));
            await ExpectLastTaskAsync(admin, vmId, "Failed", $"The VM runs on {Source}");
            await ExpectStillCountingAsync(from);
        }
        finally
        {
            // Back, the destination's agent is told to remove what it had made.
            await paddock.StartSecondAgentAsync();
            await Eventually.Async(() => !Directory.Exists(to), PaddockFixture.Boot, "the destination's directory removed");
            await paddock.StopSecondAgentAsync();
        }

        await VmApi.DeleteAsync(owner, vmId);
        await owner.Context.CloseAsync();
        await admin.Context.CloseAsync();
    }

    [Fact]
    public async Task Killing_the_source_agent_mid_way_leaves_the_VM_running_in_one_place_its_source()
    {
        await WithSecondHostAsync("mira-anchored", async (owner, admin, vmId, from) =>
        {
            var to = Path.Combine(paddock.SecondAgentVmsDir, vmId.ToString());
            await MigrateSlowlyAsync(admin, vmId, from);
            await Eventually.Async(async () => await PhaseAsync(admin, vmId) == "Memory", PaddockFixture.Boot, "the memory moving");
            await paddock.KillAgentAsync();

            // The portal calls the move off when the source's agent goes; the destination's copy, which never ran, is removed.
            await Eventually.Async(() => !Directory.Exists(to), TimeSpan.FromSeconds(60), "the destination's directory removed");
            paddock.StartAgent();
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(admin, vmId) == "Running", PaddockFixture.Boot, "the VM running on its source");
            Assert.Equal(Source, await paddock.HostNameOfAsync(vmId));
            await ExpectLastTaskAsync(admin, vmId, "Failed", "went away");
            await ExpectStillCountingAsync(from);
            Assert.Equal(1, QemuCount(vmId));
            await VmApi.DeleteAsync(owner, vmId);
        });
    }

    [Fact]
    public async Task A_destination_without_disk_room_refuses_with_the_reason_and_the_VM_stays()
    {
        // The destination's agent keeps a floor of free disk no disk here meets: to it, its disk is full.
        await WithSecondHostAsync("mira-full", async (owner, admin, vmId, from) =>
        {
            // Its agent's health says so on the Hosts page, beside the first host's.
            await admin.GotoAsync("/admin/hosts");
            await PaddockFixture.InteractiveAsync(admin);
            await Assertions.Expect(admin.GetByLabel($"Agent health of {Destination}", new() { Exact = true })).ToContainTextAsync("Unhealthy", new() { Timeout = 30_000 });
            await Assertions.Expect(admin.GetByLabel($"Agent health of {Destination}", new() { Exact = true })).ToContainTextAsync("below the floor of 100000000 MiB");
            await Assertions.Expect(admin.GetByLabel($"Agent health of {Source}", new() { Exact = true })).Not.ToContainTextAsync("Unhealthy");
            await MigrateAsync(admin, vmId, Destination);
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(admin, vmId) == "Running", PaddockFixture.Boot, "the VM running on its source");
            await ExpectLastTaskAsync(admin, vmId, "Failed", "Receiving a migration is refused: this host has");
            Assert.Equal(Source, await paddock.HostNameOfAsync(vmId));
            Assert.False(Directory.Exists(Path.Combine(paddock.SecondAgentVmsDir, vmId.ToString())));
            await ExpectStillCountingAsync(from);
            await VmApi.DeleteAsync(owner, vmId);
        }, new Dictionary<string, string> { ["Agent__MinFreeDiskMiB"] = "100000000" });
    }

    /// <summary>
    /// Mira's new VM running on the first host with its shell up, the second host up (with
    /// <paramref name="settings"/>) and an admin's page: runs <paramref name="test"/>, then stops the second host.
    /// </summary>
    private async Task WithSecondHostAsync(string name, Func<IPage, IPage, Guid, string, Task> test, IReadOnlyDictionary<string, string>? settings = null)
    {
        var (owner, admin, vmId, from) = await RunningGuestAsync(name);
        await paddock.StartSecondAgentAsync(settings);
        try
        {
            await test(owner, admin, vmId, from);
        }
        finally
        {
            await VmApi.LeaveNoVmAsync(owner, vmId);
            await paddock.StopSecondAgentAsync();
            await owner.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    /// <summary>Mira's new VM, running on the first host with its shell up; and an admin's page.</summary>
    private async Task<(IPage Owner, IPage Admin, Guid VmId, string RunDir)> RunningGuestAsync(string name)
    {
        var owner = await paddock.SignInAsync(PaddockFixture.Mira);
        var vmId = await VmApi.CreateRunningAsync(owner, name, memoryMiB: 256);
        Assert.Equal(Source, await paddock.HostNameOfAsync(vmId));
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await GuestSerial.WaitForShellAsync(runDir);
        return (owner, await paddock.SignInAsync(PaddockFixture.AdminUser), vmId, runDir);
    }

    private async Task MigrateAsync(IPage admin, Guid vmId, string host, int? maxBandwidthMiBps = null)
    {
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync() == 2, TimeSpan.FromSeconds(60), "the second host");
        var response = await admin.APIRequest.PostAsync($"/api/vms/{vmId}/migrate", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { hostId = await paddock.HostIdAsync(host), maxBandwidthMiBps },
        });
        Assert.True(response.Status == 202, $"migrate: {response.Status} {await response.TextAsync()}");
    }

    /// <summary>
    /// Moves the VM at 1 MiB/s while its guest writes 4 MiB of fresh memory a second: the memory
    /// never converges, so the move stays under way until the test calls it off or kills a side.
    /// </summary>
    private async Task MigrateSlowlyAsync(IPage admin, Guid vmId, string runDir)
    {
        await GuestSerial.StartChurnAsync(runDir);
        await MigrateAsync(admin, vmId, Destination, maxBandwidthMiBps: 1);
    }

    /// <summary>The phase the source reported last, or null.</summary>
    private static async Task<string?> PhaseAsync(IPage admin, Guid vmId)
    {
        var response = await admin.APIRequest.GetAsync($"/api/vms/{vmId}/migration");
        return response.Status == 200 && (await response.JsonAsync())!.Value.GetProperty("phase") is { ValueKind: JsonValueKind.String } phase ? phase.GetString() : null;
    }

    private static async Task ExpectLastTaskAsync(IPage admin, Guid vmId, string state, string message)
    {
        var task = (await (await admin.APIRequest.GetAsync($"/api/vms/{vmId}/tasks")).JsonAsync())!.Value.EnumerateArray().First();
        Assert.Equal("Migrate", task.GetProperty("what").GetString());
        Assert.Equal(state, task.GetProperty("state").GetString());
        Assert.Contains(message, task.GetProperty("message").GetString());
    }

    /// <summary>The guest on its source counts on where it was: never rebooted, never stopped.</summary>
    private static async Task ExpectStillCountingAsync(string runDir)
    {
        var log = Path.Combine(runDir, "serial.log");
        await GuestSerial.StartCounterAsync(runDir);
        var start = GuestSerial.LastTick(log);
        await Eventually.Async(() => GuestSerial.LastTick(log) > start + 2, TimeSpan.FromSeconds(30), "the guest counting on its source");
        Assert.Equal(1, GuestSerial.Banners(log));
    }

    /// <summary>
    /// Everything written to the log until <paramref name="ct"/> ends the following. The log is held
    /// open from the start, so what QEMU wrote just before the agent removed its directory is still
    /// read: a follower that opened it again each time lost ticks when it was late (failed twice in CI).
    /// </summary>
    private static async Task<string> FollowLogAsync(string serialLog, CancellationToken ct)
    {
        await using var stream = new FileStream(serialLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var text = new System.Text.StringBuilder();
        while (!ct.IsCancellationRequested)
        {
            text.Append(await reader.ReadToEndAsync(CancellationToken.None));
            await Task.Delay(50, CancellationToken.None);
        }

        return text.Append(await reader.ReadToEndAsync(CancellationToken.None)).ToString();
    }

    private static IEnumerable<int> Ticks(string serial) => TickPattern().Matches(serial).Select(m => int.Parse(m.Groups[1].Value));

    private static (string Label, int Uid, string Mac) Identity(string runDir)
    {
        var spec = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "spec.json"))).RootElement;
        return (spec.GetProperty("Label").GetString()!, spec.GetProperty("Uid").GetInt32(), spec.GetProperty("Nics")[0].GetProperty("Mac").GetString()!);
    }

    /// <summary>How many QEMU processes on this machine run the VM.</summary>
    private static int QemuCount(Guid vmId) =>
        Directory.EnumerateDirectories("/proc").Count(p =>
        {
            try
            {
                return int.TryParse(Path.GetFileName(p), out _) && File.ReadAllText(Path.Combine(p, "cmdline")).Contains($"guest={vmId}", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false;
            }
            catch (UnauthorizedAccessException)
            {
                return false;
            }
        });

    private static int QemuUid(string runDir)
    {
        var pid = File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim();
        var uidLine = File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal));
        return int.Parse(uidLine.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
    }

    [GeneratedRegex(@"tick-(\d+)")]
    private static partial Regex TickPattern();
}
