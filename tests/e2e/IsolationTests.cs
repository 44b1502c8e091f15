using System.Diagnostics;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Every QEMU runs as its VM's own uid with seccomp on, no_new_privs and no capabilities, bounded in
/// memory and tasks by its cgroup, and the admins' fleet list shows the label, uid and sandbox as the host reports them.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class IsolationTests(PaddockFixture paddock)
{
    [Fact]
    public async Task No_QEMU_runs_as_root_each_runs_as_its_labels_uid_under_seccomp_without_capabilities_in_bounded_cgroups_and_the_fleet_list_shows_it()
    {
        var (carol, vmId) = await paddock.CarolsRunningVmAsync();
        var vm = (await (await carol.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;

        // Every QEMU of this run, read from the kernel: never root, always seccomp filter mode (2).
        var pids = await PgrepAsync($"qemu-system-x86_64 -name guest=.*{paddock.DataDir}");
        Assert.NotEmpty(pids);
        foreach (var pid in pids)
        {
            var status = await File.ReadAllLinesAsync($"/proc/{pid}/status");
            Assert.NotEqual("0", Field(status, "Uid"));
            Assert.Equal("2", Field(status, "Seccomp"));
            Assert.Equal("1", Field(status, "NoNewPrivs"));
            foreach (var set in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" })
                Assert.True(Field(status, set) == "0000000000000000", $"QEMU {pid} has {set} {Field(status, set)}");
        }

        var carolPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(paddock.VmsDir, vmId.ToString(), "qemu", "qemu.pid"))).Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
        var uid = Field(await File.ReadAllLinesAsync($"/proc/{carolPid}/status"), "Uid");
        await AssertBoundedAsync(carolPid, vmId, vm.GetProperty("memoryMiB").GetInt32());
        await Eventually.Async(
            async () => ((await (await carol.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value.GetProperty("limitsNote").GetString() ?? "")
                .Contains($"{Paddock.Engine.Isolation.BoundsCgroup.PidsMax} tasks (cgroup v", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the VM page's note naming the bounds applied");

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/isolation");
        await PaddockFixture.InteractiveAsync(admin);
        var row = admin.GetByRole(AriaRole.Row, new() { Name = $"Isolation of {vm.GetProperty("name").GetString()}" });
        await Assertions.Expect(row).ToContainTextAsync($"{uid} / {uid}", new() { Timeout = 30_000 });
        await Assertions.Expect(row).ToContainTextAsync("seccomp filter");
        await Assertions.Expect(row).ToContainTextAsync("DAC + seccomp");
        await Assertions.Expect(row).Not.ToContainTextAsync("differs");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "isolation.png"), FullPage = true });
        await admin.Context.CloseAsync();
    }

    [Fact]
    public async Task One_VMs_QEMU_asked_to_open_anothers_disk_saved_state_or_screen_gets_the_kernels_permission_denied()
    {
        var (_, a) = await paddock.CarolsRunningVmAsync();
        var pia = await paddock.SignInAsync(PaddockFixture.Pia);
        var created = await pia.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "isolation-b", vCpus = 1, memoryMiB = 256 } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var b = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(pia, b);
        var aDir = Path.Combine(paddock.VmsDir, a.ToString());
        var bDir = Path.Combine(paddock.VmsDir, b.ToString());

        // A's QEMU, through the second monitor only the tests enable.
        await using var monitor = await Paddock.Engine.Qmp.QmpClient.ConnectAsync(Path.Combine(aDir, "qemu", "qmp-test.sock"));

        // Control: a file of A's own opens, so a refusal below is about whose file it is.
        await monitor.ExecuteAsync("blockdev-add",
            new Dictionary<string, object> { ["driver"] = "file", ["node-name"] = "probe-own", ["filename"] = Path.Combine(aDir, "serial.log"),
                ["read-only"] = true });
        await monitor.ExecuteAsync("blockdev-del", new Dictionary<string, object> { ["node-name"] = "probe-own" });

        // B's disk and B's screen: the kernel refuses A's uid.
        var disk = await Assert.ThrowsAsync<Paddock.Engine.Qmp.QmpErrorException>(() => monitor.ExecuteAsync("blockdev-add",
            new Dictionary<string, object> { ["driver"] = "file", ["node-name"] = "probe-disk", ["filename"] = Path.Combine(bDir, "disk-disk0.qcow2"),
                ["read-only"] = true }));
        Assert.Contains("Permission denied", disk.Message);
        var screen = await Assert.ThrowsAsync<Paddock.Engine.Qmp.QmpErrorException>(() => monitor.ExecuteAsync("chardev-add", new Dictionary<string, object>
        {
            ["id"] = "probe-vnc",
            ["backend"] = new { type = "socket",
                data = new { addr = new { type = "unix", data = new { path = Path.Combine(bDir, "qemu", "vnc.sock") } }, server = false } },
        }));
        Assert.Contains("Permission denied", screen.Message);

        // B's saved state, once B is saved.
        Assert.Equal(202, (await pia.APIRequest.PostAsync($"/api/vms/{b}/save", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        // Saved shows a moment before the Save task ends; a delete before that is refused as in progress.
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(pia, b) == "Saved", PaddockFixture.Boot, "B saved, its task done");
        Assert.True(File.Exists(Path.Combine(bDir, "state.sav")));
        var state = await Assert.ThrowsAsync<Paddock.Engine.Qmp.QmpErrorException>(() => monitor.ExecuteAsync("blockdev-add",
            new Dictionary<string, object> { ["driver"] = "file", ["node-name"] = "probe-state", ["filename"] = Path.Combine(bDir, "state.sav"),
                ["read-only"] = true }));
        Assert.Contains("Permission denied", state.Message);

        Assert.Equal(202, (await pia.APIRequest.PostAsync($"/api/vms/{b}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => (await pia.APIRequest.GetAsync($"/api/vms/{b}")).Status == 404, PaddockFixture.Boot, "B deleted");
        await pia.Context.CloseAsync();
    }

    /// <summary>The QEMU's own cgroups (read from the kernel, v1 or v2) bound its memory above the guest's and its tasks.</summary>
    private static async Task AssertBoundedAsync(int pid, Guid vmId, int memoryMiB)
    {
        // /proc/PID/cgroup: "4:memory:/paddock/ID" per v1 hierarchy, "0::/paddock/ID" for v2.
        var lines = (await File.ReadAllLinesAsync($"/proc/{pid}/cgroup")).Select(l => l.Split(':', 3)).ToList();
        string FileOf(string controller, string v1File, string v2File)
        {
            var v1 = lines.FirstOrDefault(l => l[1].Split(',').Contains(controller));
            var path = v1 is not null ? $"/sys/fs/cgroup/{controller}{v1[2]}/{v1File}" : $"/sys/fs/cgroup{lines.Single(l => l[0] == "0")[2]}/{v2File}";
            Assert.Contains($"/paddock/{vmId}/", path);
            return path;
        }

        var memory = long.Parse((await File.ReadAllTextAsync(FileOf("memory", "memory.limit_in_bytes", "memory.max"))).Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(memory, (memoryMiB + 256L) * 1024 * 1024, (memoryMiB * 2L + 1024) * 1024 * 1024);
        Assert.Equal("1024", (await File.ReadAllTextAsync(FileOf("pids", "pids.max", "pids.max"))).Trim());
    }

    private static string Field(IEnumerable<string> status, string name) =>
        status.First(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim().Split('\t', ' ')[0];

    private static async Task<IReadOnlyList<int>> PgrepAsync(string pattern)
    {
        using var pgrep = Process.Start(new ProcessStartInfo("pgrep", ["-f", pattern]) { RedirectStandardOutput = true })!;
        var output = await pgrep.StandardOutput.ReadToEndAsync();
        await pgrep.WaitForExitAsync();
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
    }
}
