using System.Text.Json;
using Microsoft.Playwright;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;

namespace Paddock.E2e;

/// <summary>
/// Issue #20: the agent killed (-9) while each kind of operation runs on its host. Whatever the
/// kill interrupted, the portal's resend either completes the operation, once, or it fails with its
/// reason; either way the VM rests in a state that matches its host, and nothing half-written stays.
/// (Save and snapshot, which stream for long, are in <see cref="AgentKillTests"/>.)
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class AgentKillOperationTests(PaddockFixture paddock) : IAsyncLifetime
{
    private static readonly Dictionary<string, string> Api = PaddockFixture.ApiHeaders;

    // What the fault table counts (issue #20): the kills, and each operation's end after one.
    private readonly System.Diagnostics.Stopwatch _sinceKill = new();
    private readonly List<TimeSpan> _recoveries = [];
    private int _kills;
    private int _failed;
    private int _lost;
    private int _twice;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After the test, even a failed one: the agent it killed runs again for the tests that follow.</summary>
    public Task DisposeAsync() => paddock.EnsureAgentAsync();

    [Fact]
    public async Task An_agent_killed_during_create_hotplug_restore_clone_convert_or_delete_leaves_each_done_once_or_failed_cleanly_and_a_silent_qemu_comes_back()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Kai);
        var vm = Guid.Empty;
        var clone = Guid.Empty;
        try
        {
            // Create: killed once the VM's record is on the host (its disk is being made, or QEMU starting).
            var created = await page.APIRequest.PostAsync("/api/vms", new() { Headers = Api, DataObject = new { name = "kai-one", vCpus = 1, memoryMiB = 128 } });
            Assert.True(created.Status == 201, await created.TextAsync());
            vm = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
            await KillOnceAsync(() => File.Exists(Path.Combine(Dir(vm), "spec.json")), "the create under way");
            Assert.Equal("Succeeded", await SettledAsync(page, vm, "Create"));
            Assert.Equal("Running", await PaddockFixture.IdleStatusAsync(page, vm));

            // Hotplug: killed once the new disk's file exists.
            var disks = Disks(vm);
            Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/hardware", new() { Headers = Api, DataObject = new { action = "AddDisk", sizeMiB = 16 } })).Status);
            await KillOnceAsync(() => Disks(vm) > disks, "the new disk's file");
            await ExpectDoneOrCleanAsync(page, vm, "ChangeHardware", done: async () =>
                Assert.Equal(1, (await VmApi.GetAsync(page, vm)).GetProperty("extraDisks").GetArrayLength()), clean: () => Assert.Equal(disks, Disks(vm)));

            // Hotplug again, the agent killed once QEMU has the new disk's file open (its blockdev is
            // added); before the next agent comes, the add is finished in QEMU as the killed agent
            // would have (its device in a root port). The resend adopts the device the guest has: the
            // same file, not made again, and one more disk.
            var files = DiskFiles(vm);
            var extra = (await VmApi.GetAsync(page, vm)).GetProperty("extraDisks").GetArrayLength();
            Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/hardware", new() { Headers = Api, DataObject = new { action = "AddDisk", sizeMiB = 16 } })).Status);
            string? added = null;
            var inode = 0L;
            await KillOnceAsync(() => (added = DiskFiles(vm).Except(files).FirstOrDefault()) is not null && QemuHolds(vm, added), "QEMU to open the second new disk",
                meanwhile: async () =>
                {
                    inode = await InodeAsync(added!);
                    await FinishDiskAddAsync(vm, added!);
                });
            Assert.Equal("Succeeded", await SettledAsync(page, vm, "ChangeHardware"));
            Assert.Equal(extra + 1, (await VmApi.GetAsync(page, vm)).GetProperty("extraDisks").GetArrayLength());
            Assert.Equal(inode, await InodeAsync(added!));

            // Restore (after the hotplug: the disk must sit where it sat when the state was saved): killed once the restoring QEMU is up.
            await VmApi.PowerAsync(page, vm, "save", "Saved");
            Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/restore", new() { Headers = Api })).Status);
            await KillOnceAsync(() => QemuRuns(vm), "the restoring QEMU");
            // The next agent ends a QEMU still waiting for the state (the VM stays Saved), or drops the
            // spent state of a restore that had ended; either way the resend leaves the guest running.
            Assert.Equal("Succeeded", await SettledAsync(page, vm, "Restore"));
            Assert.Equal("Running", await PaddockFixture.IdleStatusAsync(page, vm));
            Assert.False(File.Exists(Path.Combine(Dir(vm), "state.sav")), "the restored VM's spent state stayed");

            // A QEMU whose monitor does not answer when the next agent comes (stopped here by SIGSTOP)
            // holds up no other VM; this one shows Crashed with the reason, and once it answers again
            // the agent re-attaches it: the same process, Running.
            var pid = Pid(vm);
            await SignalAsync("STOP", pid);
            try
            {
                await KillOnceAsync(() => true, "nothing");
                await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Crashed", PaddockFixture.Boot, "the silent QEMU shown");
                Assert.Contains("does not answer", (await VmApi.GetAsync(page, vm)).GetProperty("statusDetail").GetString());
            }
            finally
            {
                await SignalAsync("CONT", pid);
            }

            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Running", TimeSpan.FromSeconds(90), "the QEMU re-attached once it answers");
            var silentLived = Pid(vm) == pid;
            Assert.Equal(pid, Pid(vm));
            await VmApi.PowerAsync(page, vm, "poweroff", "Stopped");

            // Clone: killed once the clone's record is on the host (its disks are being copied).
            var cloned = await page.APIRequest.PostAsync($"/api/vms/{vm}/clone", new() { Headers = Api, DataObject = new { name = "kai-clone" } });
            Assert.True(cloned.Status == 201, await cloned.TextAsync());
            clone = (await cloned.JsonAsync())!.Value.GetProperty("id").GetGuid();
            await KillOnceAsync(() => File.Exists(Path.Combine(Dir(clone), "spec.json")), "the clone under way");
            Assert.Equal("Succeeded", await SettledAsync(page, clone, "Create"));

            // Convert to template: killed once its image is being written (or after, if it was quicker).
            var converted = await page.APIRequest.PostAsync($"/api/vms/{clone}/template", new() { Headers = Api, DataObject = new { name = "kai-template" } });
            Assert.True(converted.Status == 202, await converted.TextAsync());
            var partial = Path.Combine(paddock.ImagesDir, $".partial-{clone:N}.qcow2");
            await KillOnceAsync(() => File.Exists(partial) || !Directory.Exists(Dir(clone)), "the conversion under way");
            await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{clone}")).Status == 404
                || (await TasksAsync(page, clone)).Any(t => t.GetProperty("verb").GetString() == "ConvertToTemplate" && t.GetProperty("state").GetString() == "Failed"),
                PaddockFixture.Boot, "the conversion to end");
            if ((await page.APIRequest.GetAsync($"/api/vms/{clone}")).Status == 404)
            {
                // Converted: the VM is gone and the template is there once, ready.
                await Eventually.Async(async () => (await TemplatesAsync(page, "kai-template")).SingleOrDefault().ValueKind == JsonValueKind.Object
                    && (await TemplatesAsync(page, "kai-template")).Single().GetProperty("state").GetString() == "Ready", TimeSpan.FromSeconds(60), "the template ready");
                Assert.False(Directory.Exists(Dir(clone)), "the converted VM's directory stayed");
                _recoveries.Add(_sinceKill.Elapsed);
            }
            else
            {
                await SettledAsync(page, clone, "ConvertToTemplate");
            }

            Assert.False(File.Exists(partial), "the conversion's half-written image stayed");

            // Delete: killed as soon as the portal has sent it.
            Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vm}/delete", new() { Headers = Api })).Status);
            await paddock.KillAgentAsync();
            _kills++;
            _sinceKill.Restart();
            paddock.StartAgent();
            await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{vm}")).Status == 404, PaddockFixture.Boot, "the VM deleted");
            _recoveries.Add(_sinceKill.Elapsed);
            Assert.False(Directory.Exists(Dir(vm)), "the deleted VM's directory stayed");

            // Nothing half-written anywhere, and no outcome recorded twice.
            Assert.Empty(Partials());
            Assert.Empty(Directory.EnumerateFiles(paddock.VmsDir, "*.tmp", SearchOption.AllDirectories));
            var twice = await paddock.DuplicatedCompletionsAsync();
            paddock.RecordFaults(new Paddock.Testing.FaultRow("agent kill -9 in 7 operations, 1 silent QEMU",
                _kills, 7, _failed, VmsLost: silentLived ? 0 : 1, Duplicated: _twice + twice.Count, Lost: _lost, _recoveries));
            Assert.Empty(twice);
        }
        finally
        {
            await paddock.EnsureAgentAsync();
            foreach (var left in new[] { clone, vm }.Where(id => id != Guid.Empty))
            {
                await VmApi.LeaveNoVmAsync(page, left);
            }

            await page.Context.CloseAsync();
        }
    }

    /// <summary>Kills the agent as soon as <paramref name="begun"/> holds (polled every few ms), does <paramref name="meanwhile"/>, and starts the next one.</summary>
    private async Task KillOnceAsync(Func<bool> begun, string what, Func<Task>? meanwhile = null)
    {
        await Eventually.Async(() => Task.FromResult(begun()), TimeSpan.FromSeconds(60), what, poll: TimeSpan.FromMilliseconds(5));
        var killedAt = DateTimeOffset.UtcNow;
        await paddock.KillAgentAsync();
        _kills++;
        if (meanwhile is not null)
        {
            await meanwhile();
        }

        _sinceKill.Restart();
        paddock.StartAgent();
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(60), "the new agent to register");
    }

    /// <summary>
    /// Waits until the VM rests, then returns how its newest <paramref name="verb"/> task ended: Succeeded,
    /// or Failed with a reason; its outcome is recorded exactly once.
    /// </summary>
    private async Task<string> SettledAsync(IPage page, Guid vm, string verb)
    {
        JsonElement task = default;
        await Eventually.Async(async () =>
        {
            task = (await TasksAsync(page, vm)).FirstOrDefault(t => t.GetProperty("verb").GetString() == verb);
            return task.ValueKind == JsonValueKind.Object && task.GetProperty("state").GetString() is "Succeeded" or "Failed"
                && await PaddockFixture.IdleStatusAsync(page, vm) is not null;
        }, PaddockFixture.Boot, $"the {verb} task to end");
        _recoveries.Add(_sinceKill.Elapsed);
        var state = task.GetProperty("state").GetString()!;
        var completions = await paddock.CompletionsAsync(vm, Guid.Parse(task.GetProperty("operationId").GetString()!));
        (_lost, _twice) = (_lost + (completions == 0 ? 1 : 0), _twice + (int)Math.Max(0, completions - 1));
        Assert.Equal(1, completions);
        if (state == "Failed")
        {
            _failed++;
            Assert.False(string.IsNullOrWhiteSpace(task.GetProperty("message").ToString()), $"{verb} failed without a reason");
        }

        return state;
    }

    /// <summary>The operation completed (<paramref name="done"/> holds), or failed cleanly (<paramref name="clean"/> holds).</summary>
    private async Task ExpectDoneOrCleanAsync(IPage page, Guid vm, string verb, Func<Task> done, Action clean)
    {
        if (await SettledAsync(page, vm, verb) == "Succeeded")
        {
            await done();
        }
        else
        {
            clean();
        }
    }

    private string Dir(Guid vm) => Path.Combine(paddock.VmsDir, vm.ToString());

    private int Disks(Guid vm) => Directory.Exists(Dir(vm)) ? Directory.GetFiles(Dir(vm), "disk-*.qcow2").Length : 0;

    private HashSet<string> DiskFiles(Guid vm) => [.. Directory.GetFiles(Dir(vm), "disk-*.qcow2")];

    /// <summary>Whether the VM's QEMU has <paramref name="file"/> open (one of its descriptors links to it).</summary>
    private bool QemuHolds(Guid vm, string file)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{Pid(vm)}/fd").Any(fd => new FileInfo(fd).LinkTarget == file);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task<long> InodeAsync(string file) => long.Parse(await PaddockFixture.RunAsync("stat", "-c", "%i", file));

    /// <summary>What the killed agent's add would have done next, through the VM's own monitor: the disk's device in QEMU, unless it is there.</summary>
    private async Task FinishDiskAddAsync(Guid vm, string file)
    {
        var disk = new DiskSpec(Path.GetFileNameWithoutExtension(file)["disk-".Length..], 16L << 20, null);
        await using var qmp = await QmpClient.ConnectAsync(Path.Combine(Dir(vm), "qemu", "qmp.sock"), timeout: TimeSpan.FromSeconds(10));
        if (await Hotplug.PortOfDiskAsync(qmp, disk, CancellationToken.None) is null)
        {
            await Hotplug.ClearCutAddAsync(qmp, disk);
            await Hotplug.AddDiskAsync(qmp, file, disk, CancellationToken.None);
        }
    }

    private int Pid(Guid vm) => int.Parse(File.ReadAllText(Path.Combine(Dir(vm), "qemu", "qemu.pid")).Trim());

    private static async Task SignalAsync(string signal, int pid)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString()]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Whether the VM's QEMU process is there (its pid file names a live process).</summary>
    private bool QemuRuns(Guid vm)
    {
        try
        {
            return int.TryParse(File.ReadAllText(Path.Combine(Dir(vm), "qemu", "qemu.pid")).Trim(), out var pid) && Directory.Exists($"/proc/{pid}");
        }
        catch (IOException)
        {
            return false;
        }
    }

    private string[] Partials() => Directory.GetFiles(paddock.ImagesDir, ".partial-*");

    private static async Task<List<JsonElement>> TemplatesAsync(IPage page, string name) =>
        [.. (await (await page.APIRequest.GetAsync("/api/templates")).JsonAsync())!.Value.EnumerateArray().Where(t => t.GetProperty("name").GetString() == name)];

    /// <summary>The VM's tasks; none once it is gone (a conversion that ends between two reads removes it).</summary>
    private static async Task<List<JsonElement>> TasksAsync(IPage page, Guid vm)
    {
        var response = await page.APIRequest.GetAsync($"/api/vms/{vm}/tasks");
        return response.Status == 200 ? [.. (await response.JsonAsync())!.Value.EnumerateArray()] : [];
    }
}
