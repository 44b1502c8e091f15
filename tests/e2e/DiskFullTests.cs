using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// A host whose disk is really full: an agent of its own whose run directories and image cache live
/// on a small ext4 file system, loop-mounted by the test and filled up to 2 MiB (the agent's free-disk
/// floor is off, so the writes themselves meet the full disk). On one running VM there, Save,
/// Change CD (an image fetch) and, stopped, Clone each fail with the figures as their writes meet the
/// full disk, Snapshot is refused before QEMU writes, the guest answers after each, and no file is
/// left half-written; a guest writing into the full disk is paused and goes on by itself once there is room; a second portal whose image library is on
/// the same file system answers an upload with 507 and keeps nothing of it.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class DiskFullTests(PaddockFixture paddock) : IAsyncLifetime
{
    private const string HostName = "e2e-host-full";
    private const string AgentProcess = "agent-full";
    private const string PortalProcess = "portal-full";
    private const long MiB = 1024 * 1024;

    private string DiskImage => Path.Combine(paddock.DataDir, "full-disk.img");

    private string MountPoint => Path.Combine(paddock.DataDir, "full-disk");

    private string AgentDir => Path.Combine(paddock.DataDir, AgentProcess);

    private string VmsDir => Path.Combine(MountPoint, "vms");

    private string CacheDir => Path.Combine(MountPoint, "images");

    private string LibraryDir => Path.Combine(MountPoint, "library");

    /// <summary>
    /// A 4 GiB sparse ext4 (room enough for placement, no blocks kept for root) loop-mounted under the
    /// run's data directory; the agent's vms/ and images/ point into it, its own state stays outside.
    /// </summary>
    public async Task InitializeAsync()
    {
        await UnmountAsync();
        try
        {
            await PaddockFixture.RunAsync("truncate", "-s", "4G", DiskImage);
            await PaddockFixture.RunAsync("mkfs.ext4", "-q", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", DiskImage);
            Directory.CreateDirectory(MountPoint);
            await PaddockFixture.RunAsync("mount", "-o", "loop", DiskImage, MountPoint);
            Directory.CreateDirectory(VmsDir);
            Directory.CreateDirectory(CacheDir);
            Directory.CreateDirectory(AgentDir);
            Directory.CreateSymbolicLink(Path.Combine(AgentDir, "vms"), VmsDir);
            Directory.CreateSymbolicLink(Path.Combine(AgentDir, "images"), CacheDir);
            paddock.InstallBuiltInTemplate(AgentDir);
        }
        catch
        {
            // xUnit does not dispose what failed to initialise: the loop device goes here.
            await UnmountAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        await paddock.StopAgentAsync(AgentProcess);
        await paddock.StopAgentAsync(PortalProcess);
        await UnmountAsync();
        await paddock.EnsureAgentAsync();
    }

    [Fact]
    public async Task A_full_disk_fails_save_snapshot_image_fetch_clone_and_upload_with_the_figures_the_guest_runs_on_and_nothing_half_written_stays()
    {
        var owner = await paddock.SignInAsync(PaddockFixture.Fern);
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var startedAt = DateTimeOffset.UtcNow;
        paddock.StartExtraAgent(AgentProcess, HostName, AgentDir, await paddock.JoinTokenAsync(HostName), memoryMiB: 1024,
            settings: new Dictionary<string, string> { ["Agent__MinFreeDiskMiB"] = "0" });
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: startedAt) > 0, TimeSpan.FromSeconds(60), "the full host to register");
        var iso = await paddock.UploadIsoAsync(owner, "brimful-cd");
        var mainHost = await paddock.HostIdAsync("e2e-host");
        List<Guid> vms = [];
        await PaddockFixture.MaintenanceAsync(admin, mainHost, on: true);
        try
        {
            var vmId = await VmApi.CreateRunningAsync(owner, "brimful", memoryMiB: 128, isolated: true);
            vms.Add(vmId);
            Assert.Equal(HostName, await paddock.HostNameOfAsync(vmId));
            await PaddockFixture.MaintenanceAsync(admin, mainHost, on: false);
            var runDir = Path.Combine(VmsDir, vmId.ToString());
            await GuestSerial.WaitForShellAsync(runDir);

            var free = await FillAsync(leave: 2 * MiB);
            var files = Listing(runDir);
            var pid = File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim();
            await owner.GotoAsync($"/vms/{vmId}");

            // Save writes the state file itself: the write fails, QEMU runs the guest on, no partial state stays.
            await OperationAsync(owner, vmId, "save", null);
            await PaddockFixture.ExpectTaskAsync(owner, "Save", "The host's disk is full: saving the VM's state needs about 144 MiB and");
            await ExpectRunningAndAnsweringAsync(owner, vmId, runDir, "after-save");
            Assert.Equal(files, Listing(runDir));
            ExpectFreeAgain(free, "the save");

            // QEMU would write the memory into the disk, where a failed write leaks: refused before it starts, no snapshot recorded.
            await OperationAsync(owner, vmId, "snapshots", new { name = "brim" });
            await PaddockFixture.ExpectTaskAsync(owner, "Snapshot", "The host's disk is full: taking snapshot 'brim' needs about 144 MiB and");
            await ExpectRunningAndAnsweringAsync(owner, vmId, runDir, "after-snapshot");
            Assert.Empty((await VmApi.GetAsync(owner, vmId)).GetProperty("snapshots").EnumerateArray());
            Assert.DoesNotContain("brim", await PaddockFixture.RunAsync("qemu-img", "snapshot", "-U", "-l", Path.Combine(runDir, "disk-disk0.qcow2")));
            Assert.Equal(files, Listing(runDir));
            ExpectFreeAgain(free, "the snapshot");

            // Changing the CD fetches the ISO into the host's cache: it does not fit, and no partial file stays.
            var cache = Listing(CacheDir);
            var changed = await owner.APIRequest.PutAsync($"/api/vms/{vmId}/cdrom", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { imageId = iso } });
            Assert.True(changed.Status == 202, await changed.TextAsync());
            await PaddockFixture.ExpectTaskAsync(owner, "Change CD", $"The host's disk is full: fetching the image from the portal needs about {UploadedIsoMiB(1)} MiB and");
            await ExpectRunningAndAnsweringAsync(owner, vmId, runDir, "after-fetch");
            Assert.Equal(cache, Listing(CacheDir));
            ExpectFreeAgain(free, "the image fetch");

            // The guest writes more than the host has: QEMU pauses it at the failed write (the guest sees no
            // error), the VM's page says why, and once the host has room again the agent lets it go on by itself.
            await GuestSerial.TypeAsync(runDir, "dd if=/dev/urandom of=/dev/vda bs=1M count=16 conv=fsync 2>/dev/null; echo wrote-$((6*7))");
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(owner, vmId) == "Paused", PaddockFixture.Boot, "QEMU to pause the guest");
            Assert.StartsWith("The host's disk is full: QEMU paused the guest", (await VmApi.GetAsync(owner, vmId)).GetProperty("statusDetail").GetString());
            await Assertions.Expect(owner.GetByRole(AriaRole.Note, new() { Name = "Why" })).ToContainTextAsync("It goes on by itself once the host has room again.");
            File.Delete(Path.Combine(MountPoint, "filler"));
            var room = System.Diagnostics.Stopwatch.StartNew();
            await Eventually.Async(() => Task.FromResult(GuestSerial.Read(Path.Combine(runDir, "serial.log")).Contains("wrote-42")), PaddockFixture.Boot, "the guest's writes to end");
            var recovery = room.Elapsed;
            await ExpectRunningAndAnsweringAsync(owner, vmId, runDir, "after-room");
            free = await FillAsync(leave: 2 * MiB);

            // A clone's full copy is qemu-img's: it fails, the clone's run directory goes, the source is as it was.
            var lost = File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim() == pid ? 0 : 1;
            await VmApi.PowerAsync(owner, vmId, "poweroff", "Stopped");
            var stopped = Listing(runDir);
            var cloned = await owner.APIRequest.PostAsync($"/api/vms/{vmId}/clone", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "brimful-copy" } });
            Assert.True(cloned.Status == 201, await cloned.TextAsync());
            var cloneId = (await cloned.JsonAsync())!.Value.GetProperty("id").GetGuid();
            vms.Add(cloneId);
            var create = await LastTaskAsync(owner, cloneId);
            Assert.Equal("Failed", create.GetProperty("state").GetString());
            Assert.StartsWith("The host's disk is full: a full copy of disk-disk0.qcow2 needs about", create.GetProperty("message").GetString());
            Assert.False(Directory.Exists(Path.Combine(VmsDir, cloneId.ToString())));
            Assert.Equal(stopped, Listing(runDir));
            ExpectFreeAgain(free, "the clone");
            await VmApi.DeleteAsync(owner, cloneId);

            // The portal stores an upload on its own disk: with its library on this one, 507 and nothing kept.
            await ExpectUploadRefusedAsync(owner);
            ExpectFreeAgain(free, "the upload");

            // The row of the fault table: the save, the snapshot, the fetch and the clone failed with their reasons (and the upload was
            // refused, above); the same QEMU ran the guest throughout; no task stays unended; nothing recorded twice.
            var tasks = (await (await owner.APIRequest.GetAsync($"/api/vms/{vmId}/tasks")).JsonAsync())!.Value.EnumerateArray().ToList();
            var failed = tasks.Count(t => t.GetProperty("state").GetString() == "Failed") + (create.GetProperty("state").GetString() == "Failed" ? 1 : 0);
            var unended = tasks.Count(t => t.GetProperty("state").GetString() is not ("Failed" or "Succeeded"));
            var twice = await paddock.DuplicatedCompletionsAsync();
            paddock.RecordFaults(new Paddock.Testing.FaultRow("host disk full x6 (save ... upload)", 6, 6, failed + 1,
                VmsLost: lost, Duplicated: twice.Count, Lost: unended, [recovery]));
            Assert.Equal(4, failed);
            Assert.Equal(0, unended);
            Assert.Equal(0, lost);
            Assert.Empty(twice);
        }
        finally
        {
            await PaddockFixture.MaintenanceAsync(admin, mainHost, on: false);
            foreach (var id in vms)
            {
                await VmApi.LeaveNoVmAsync(owner, id);
            }

            await owner.APIRequest.DeleteAsync($"/api/images/{iso}", new() { Headers = PaddockFixture.ApiHeaders });
            await owner.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    /// <summary>
    /// <paramref name="copies"/> of the ISO this test uploads (the built-in template's and 2 KiB, as
    /// <see cref="PaddockFixture.UploadIsoAsync"/> sends it), in MiB rounded up as the refusals say it.
    /// </summary>
    private long UploadedIsoMiB(int copies) =>
        (long)Math.Ceiling(copies * (new FileInfo(Path.Combine(paddock.ImagesDir, "builtin-busybox.iso")).Length + 2048) / (1024.0 * 1024));

    /// <summary>An ISO upload to a second portal whose library is on the full disk: 507 with the figures, its staging directory gone.</summary>
    private async Task ExpectUploadRefusedAsync(IPage owner)
    {
        var url = await paddock.StartSecondPortalAsync(new Dictionary<string, string> { ["Paddock__LibraryDir"] = LibraryDir }, PortalProcess);
        using var http = await paddock.ApiClientAsAsync(owner, url);
        var bytes = await File.ReadAllBytesAsync(Path.Combine(paddock.ImagesDir, "builtin-busybox.iso"));
        using var body = new ByteArrayContent([.. bytes, .. System.Security.Cryptography.RandomNumberGenerator.GetBytes(2048)]);
        body.Headers.ContentType = new("application/octet-stream");
        using var upload = await http.PostAsync("/api/images?name=overflow&kind=iso&format=raw", body);
        var problem = await upload.Content.ReadAsStringAsync();
        Assert.True((int)upload.StatusCode == 507, problem);
        var title = JsonDocument.Parse(problem).RootElement.GetProperty("title").GetString();
        // The portal keeps room for two copies of an upload (the staged file and the library's).
        Assert.StartsWith($"The portal's disk is full: this upload needs about {UploadedIsoMiB(2)} MiB and", title);
        Assert.EndsWith("Nothing of it was kept.", title);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(LibraryDir, ".incoming")));
        Assert.Empty(Directory.EnumerateFiles(LibraryDir));
        await paddock.StopAgentAsync(PortalProcess);
    }

    /// <summary>Asks for an operation through the API (a verb, or snapshots with a body) and waits until no task holds the VM.</summary>
    private static async Task OperationAsync(IPage owner, Guid vmId, string path, object? body)
    {
        var response = await owner.APIRequest.PostAsync($"/api/vms/{vmId}/{path}", new() { Headers = PaddockFixture.ApiHeaders, DataObject = body });
        Assert.True(response.Status == 202, $"{path}: {response.Status} {await response.TextAsync()}");
    }

    /// <summary>The VM runs, no task holds it, its page says Running, and its guest's shell answers a line.</summary>
    private static async Task ExpectRunningAndAnsweringAsync(IPage owner, Guid vmId, string runDir, string mark)
    {
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(owner, vmId) == "Running", PaddockFixture.Boot, "the VM running and idle");
        await PaddockFixture.ExpectStatusAsync(owner, "Running");
        await Eventually.Async(
            async () => (await GuestSerial.RunAsync(runDir, $"echo {mark}-$((6*7))", until: $"{mark}-42")).Contains($"{mark}-42"),
            TimeSpan.FromSeconds(60), "the guest to answer");
    }

    /// <summary>The newest task of the VM once it has ended.</summary>
    private static async Task<JsonElement> LastTaskAsync(IPage owner, Guid vmId)
    {
        JsonElement task = default;
        await Eventually.Async(async () =>
        {
            task = (await (await owner.APIRequest.GetAsync($"/api/vms/{vmId}/tasks")).JsonAsync())!.Value.EnumerateArray().First();
            return task.GetProperty("state").GetString() is "Failed" or "Succeeded";
        }, PaddockFixture.Boot, "the task to end");
        return task;
    }

    /// <summary>Fills the file system up to <paramref name="leave"/> bytes free (fallocate: no bytes written); returns what is free then.</summary>
    private async Task<long> FillAsync(long leave)
    {
        await PaddockFixture.RunAsync("fallocate", "-l", (DriveFree() - leave).ToString(System.Globalization.CultureInfo.InvariantCulture),
            Path.Combine(MountPoint, "filler"));
        var free = DriveFree();
        Assert.InRange(free, 1 * MiB, 2 * MiB);
        return free;
    }

    private long DriveFree() => new DriveInfo(MountPoint).AvailableFreeSpace;

    /// <summary>A failure gave back what it had written (less the few KiB the guest's serial log grew by).</summary>
    private void ExpectFreeAgain(long free, string after) =>
        Assert.True(DriveFree() >= free - (256 * 1024), $"{DriveFree()} bytes free after {after}, {free} before");

    /// <summary>The names of a directory's entries: a partial file, a state file or a clone's directory would show here.</summary>
    private static string[] Listing(string directory) =>
        [.. Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal).Select(Path.GetFileName).OfType<string>()];

    /// <summary>Unmounts the file system (and so frees its loop device) if it is mounted, and removes its image and the agent's directory.</summary>
    private async Task UnmountAsync()
    {
        if (File.ReadAllText("/proc/mounts").Contains($" {MountPoint} ", StringComparison.Ordinal))
        {
            // Lazily: a QEMU a failed test left running must not keep the next run from its own file system.
            await PaddockFixture.RunAsync("umount", "--lazy", MountPoint);
        }

        File.Delete(DiskImage);
        if (Directory.Exists(MountPoint))
        {
            Directory.Delete(MountPoint);
        }

        if (Directory.Exists(AgentDir))
        {
            Directory.Delete(AgentDir, recursive: true);
        }
    }
}
