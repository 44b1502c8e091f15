using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class SnapshotTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Reverting_a_memory_snapshot_brings_back_a_deleted_file_and_deleting_a_snapshot_frees_its_name()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Gina);
        var vmId = await PaddockFixture.CreateVmAsync(page, "snap-vm");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(runDir);
        await GuestSerial.RunAsync(runDir, "echo snap-me > /root/f; echo done-\"a\"", until: "done-a");

        // Take a snapshot with the guest's memory, from the page.
        await page.GetByLabel("Snapshot name").FillAsync("before");
        await page.GetByRole(AriaRole.Button, new() { Name = "Take snapshot" }).ClickAsync();
        await PaddockFixture.ExpectTaskAsync(page, "Snapshot", "Done");
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Snapshots" })).ToContainTextAsync("disks and memory");
        // Its size: the guest's RAM state it holds, as qemu-img measured it.
        var stateBytes = (await SnapshotsAsync(page, vmId)).Single().GetProperty("stateBytes").GetInt64();
        Assert.True(stateBytes > 1024 * 1024, $"a RAM state of {stateBytes} bytes");
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Snapshots" })).ToContainTextAsync($"{stateBytes / (1024.0 * 1024):0.#} MiB");

        // Lose the file, then go back: it is there again and the guest runs on from that moment.
        Assert.DoesNotContain("snap-me",
            await GuestSerial.RunAsync(runDir, "rm /root/f; cat /root/f; echo done-\"b\"", until: "done-b")
                .ContinueWith(t => t.Result.Replace("echo snap-me", "")));
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/snapshots/before/revert", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectTaskAsync(page, "Revert to snapshot", "Done");
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        Assert.Contains("snap-me", await GuestSerial.RunAsync(runDir, "cat /root/f; echo done-\"c\"", until: "done-c"));
        Assert.Equal(1, GuestSerial.Banners(Path.Combine(runDir, "serial.log")));
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "snapshots.png") });
        await LeaksOfACutSnapshotAreFreedAtTheNextStartAsync(page, vmId, runDir);

        // A taken name is refused; deleting the snapshot frees it.
        var api = page.APIRequest;
        var taken = await api.PostAsync($"/api/vms/{vmId}/snapshots", new() { DataObject = new { name = "before" }, Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(422, taken.Status);
        Assert.Contains("'before' is taken", await taken.TextAsync());
        Assert.Equal(202, (await api.DeleteAsync($"/api/vms/{vmId}/snapshots/before", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => (await SnapshotsAsync(page, vmId)).Count == 0, TimeSpan.FromSeconds(60), "the snapshot to go");
        // The 202 says where its task is, and that task is polled until it ends.
        var again = await api.PostAsync($"/api/vms/{vmId}/snapshots", new() { DataObject = new { name = "before" }, Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(202, again.Status);
        var operationId = (await again.JsonAsync())!.Value.GetProperty("operationId").GetGuid();
        Assert.Equal($"/api/vms/{vmId}/tasks/{operationId}", again.Headers["location"]);
        var task = await VmApi.TaskEndedAsync(page, again.Headers["location"]);
        Assert.Equal(("Snapshot", "Succeeded"), (task.GetProperty("verb").GetString(), task.GetProperty("state").GetString()));
        Assert.Single(await SnapshotsAsync(page, vmId));
        Assert.Equal(404, (await api.GetAsync($"/api/vms/{vmId}/tasks/{Guid.NewGuid()}")).Status);

        // A stopped VM's snapshot holds its disks only (qemu-img).
        Assert.Equal(202, (await api.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        Assert.Equal(202,
            (await api.PostAsync($"/api/vms/{vmId}/snapshots", new() { DataObject = new { name = "cold" }, Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(
            async () => (await SnapshotsAsync(page, vmId)).Any(s => s.GetProperty("name").GetString() == "cold" && !s.GetProperty("withMemory").GetBoolean()),
            TimeSpan.FromSeconds(60), "the disk snapshot");

        // The snapshots form a tree: "cold" was taken while the VM was at "before", so it hangs under it.
        var cold = (await SnapshotsAsync(page, vmId)).Single(s => s.GetProperty("name").GetString() == "cold");
        Assert.Equal("before", cold.GetProperty("parent").GetString());
        Assert.Equal(0, cold.GetProperty("stateBytes").GetInt64());
        var rows = page.GetByRole(AriaRole.Table, new() { Name = "Snapshots" }).Locator("tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        Assert.Equal(["0", "1"], [await rows.Nth(0).GetAttributeAsync("data-depth") ?? "", await rows.Nth(1).GetAttributeAsync("data-depth") ?? ""]);
        await Assertions.Expect(rows.Nth(1)).ToContainTextAsync("cold");
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "snapshot-tree.png") });

        Assert.Equal(202, (await api.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await page.Context.CloseAsync();
    }

    /// <summary>
    /// A snapshot cut short (its QEMU killed while it writes the memory state into the disk) fails and
    /// leaves clusters allocated in the disk that nothing uses; the next start frees them before QEMU
    /// opens the disk, and says how many.
    /// </summary>
    private async Task LeaksOfACutSnapshotAreFreedAtTheNextStartAsync(IPage page, Guid vmId, string runDir)
    {
        // About 48 MB of the guest's memory that is not zero (24 copies of busybox, 2 MB, in its root
        // file system, which is in RAM): the state QEMU writes is long enough to be cut in the middle.
        Assert.Contains("done-fill", await GuestSerial.RunAsync(runDir,
            "i=0; while [ $i -lt 24 ]; do cat /bin/busybox; i=$((i+1)); done > /root/fill; echo done-\"fill\"", until: "done-fill", within: TimeSpan.FromSeconds(90)));
        var disk = Path.Combine(runDir, "disk-disk0.qcow2");
        var size = new FileInfo(disk).Length;
        var qemu = System.Diagnostics.Process.GetProcessById(int.Parse(File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim()));
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/snapshots", new() { DataObject = new { name = "cut" }, Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(() => new FileInfo(disk).Length > size + (512 << 10), TimeSpan.FromSeconds(60), "QEMU writing the memory state", poll: TimeSpan.FromMilliseconds(2));
        qemu.Kill();
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vmId) == "Crashed", PaddockFixture.Boot, "the VM shown Crashed");
        Assert.DoesNotContain(await SnapshotsAsync(page, vmId), s => s.GetProperty("name").GetString() == "cut");
        var leaked = await LeakedClustersAsync(disk);
        Assert.True(leaked > 0, "the cut snapshot left no leaked clusters to free");

        await VmApi.PowerAsync(page, vmId, "start", "Running");
        Assert.Contains($"VM {vmId}: freed {leaked} leaked clusters in disk disk0", paddock.LogOf("agent"));
        await GuestSerial.WaitForShellAsync(runDir);
    }

    /// <summary>What qemu-img check counts as leaked in the stopped VM's disk.</summary>
    private static async Task<long> LeakedClustersAsync(string disk)
    {
        using var check = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("qemu-img", ["check", "--output=json", "-f", "qcow2", disk])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stdout = check.StandardOutput.ReadToEndAsync();
        _ = check.StandardError.ReadToEndAsync();
        await check.WaitForExitAsync();
        using var report = JsonDocument.Parse(await stdout);
        return report.RootElement.TryGetProperty("leaks", out var leaks) ? leaks.GetInt64() : 0;
    }

    private static async Task<List<JsonElement>> SnapshotsAsync(IPage page, Guid vmId) =>
        [.. (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value.GetProperty("snapshots").EnumerateArray()];
}
