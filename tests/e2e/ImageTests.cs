using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class ImageTests(PaddockFixture paddock) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After each test, even a failed one: the agent it killed runs again for the tests that follow.</summary>
    public Task DisposeAsync() => paddock.EnsureAgentAsync();

    private string Iso => Path.Combine(paddock.ImagesDir, "builtin-busybox.iso");

    [Fact]
    public async Task An_iso_uploaded_from_the_browser_boots_a_vm_onto_a_blank_disk_and_leaves_its_drive_when_ejected()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Kate);
        await page.GetByRole(AriaRole.Link, new() { Name = "Images" }).ClickAsync();
        await PaddockFixture.InteractiveAsync(page);
        var sha = PaddockFixture.Sha256Of(Iso);
        Assert.False(File.Exists(Path.Combine(paddock.ImagesDir, $"{sha}.iso")), "the host has no copy yet");

        await page.GetByLabel("Image name").FillAsync("busybox-iso");
        await page.GetByLabel("File").SetInputFilesAsync(Iso);
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status))
            .ToContainTextAsync($"Uploaded 'busybox-iso': SHA-256 of what you sent {sha}", new() { Timeout = 60_000 });
        Assert.True(File.Exists(Path.Combine(paddock.LibraryDir, $"{sha}.iso")));
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "images.png") });

        // A VM from it: a blank 64 MiB disk, the ISO in its CD drive, booting from the CD.
        await page.GetByRole(AriaRole.Button, new() { Name = "New VM from busybox-iso" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await Assertions.Expect(dialog).ToContainTextAsync("Install from ISO: busybox-iso");
        await dialog.GetByLabel("Name").FillAsync("from-iso");
        await dialog.GetByLabel("Disk (MiB)").FillAsync("64");
        var vmId = await PaddockFixture.SubmitCreateAsync(page, "from-iso");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(runDir, what: "the shell from the CD");
        var seen = await GuestSerial.RunAsync(runDir, "cat /proc/cmdline; grep vda /proc/partitions; echo done-\"iso\"", until: "done-iso");
        Assert.Contains("paddock.boot=cdrom", seen);
        Assert.Matches(@"\s65536 vda", seen);
        // The host fetched the ISO from the portal by its checksum.
        Assert.Equal(sha, PaddockFixture.Sha256Of(Path.Combine(paddock.ImagesDir, $"{sha}.iso")));
        await Assertions.Expect(page.GetByLabel("CD in the drive")).ToHaveTextAsync("busybox-iso");

        // In use, the image cannot go.
        var refused = await page.APIRequest.DeleteAsync($"/api/images/{await ImageIdAsync(page, "busybox-iso")}",
            new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(409, refused.Status);
        Assert.Contains("is used by 1 VM", await refused.TextAsync());

        // Eject while it runs: QEMU lets go of the file, and the next boot has an empty drive.
        var pid = int.Parse(File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim());
        Assert.Contains(OpenFiles(pid), f => f.EndsWith($"{sha}.iso", StringComparison.Ordinal));
        await page.GetByRole(AriaRole.Button, new() { Name = "Eject" }).ClickAsync();
        await PaddockFixture.ExpectTaskAsync(page, "Change CD", "Done");
        await Assertions.Expect(page.GetByLabel("CD in the drive")).ToHaveTextAsync("empty");
        Assert.DoesNotContain(OpenFiles(pid), f => f.EndsWith($"{sha}.iso", StringComparison.Ordinal));

        // The boot order changes while stopped only, and the next QEMU boots as it says.
        Assert.Equal(409, (await page.APIRequest.PutAsync($"/api/vms/{vmId}/settings", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { shutdownTimeoutSeconds = 60, restart = "Never", maxRestartsPerHour = 3, bootOrder = "disk,cdrom" },
        })).Status);
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        await page.GetByLabel("Boot order").ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "Disk, then CD-ROM" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save settings" }).ClickAsync();
        await Eventually.Async(
            async () => (await VmAsync(page, vmId)).GetProperty("settings").GetProperty("bootOrder").GetString() == "disk,cdrom",
            TimeSpan.FromSeconds(30), "the boot order");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        var argv = File.ReadAllText($"/proc/{File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim()}/cmdline").Split('\0');
        Assert.Contains("virtio-blk-pci,id=disk-disk0,drive=disk0,bus=rp0,bootindex=1", argv);
        Assert.Contains("ide-cd,id=cdrom-cd0,bus=ide.0,bootindex=2", argv);

        // The status shows Running before the Start task ends; a power-off meanwhile is refused as busy.
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vmId) == "Running", PaddockFixture.Boot, "the Start task to end");
        await VmApi.PowerAsync(page, vmId, "poweroff", "Stopped");
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).Status == 404, TimeSpan.FromSeconds(60), "the VM to go");
        Assert.Equal(204,
            (await page.APIRequest.DeleteAsync($"/api/images/{await ImageIdAsync(page, "busybox-iso")}",
                new() { Headers = PaddockFixture.ApiHeaders })).Status);
        Assert.False(File.Exists(Path.Combine(paddock.LibraryDir, $"{sha}.iso")));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Hostile_uploads_are_refused_with_the_reason_and_leave_nothing_on_disk()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Leo);
        var work = Directory.CreateTempSubdirectory("paddock-hostile-").FullName;
        var before = LibraryFiles().ToHashSet();
        try
        {
            var shadow = Path.Combine(work, "shadow.qcow2");
            await PaddockFixture.RunAsync("qemu-img", "create", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", shadow, "1M");
            var dataFile = Path.Combine(work, "datafile.qcow2");
            await PaddockFixture.RunAsync("qemu-img", "create", "-f", "qcow2", "-o", $"data_file={Path.Combine(work, "elsewhere.raw")}", dataFile, "1M");
            var vmdk = Path.Combine(work, "extent.vmdk");
            File.WriteAllText(vmdk,
                "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"/etc/passwd\" 0\n");
            var random = Path.Combine(work, "random.bin");
            File.WriteAllBytes(random, RandomNumberGenerator.GetBytes(512 * 1024));

            foreach (var (file, kind, format, reason) in new[]
            {
                (shadow, "disk", "qcow2", "'/etc/shadow'"),
                (dataFile, "disk", "qcow2", "elsewhere.raw"),
                (vmdk, "disk", "vmdk", "'/etc/passwd'"),
                (random, "disk", "qcow2", "This is not a valid qcow2 image"),
                (random, "iso", "raw", "This is not an ISO 9660 CD image"),
            })
            {
                var response = await UploadAsync(page, file, kind, format, "hostile");
                Assert.Equal(422, response.Status);
                var title = (await response.JsonAsync())!.Value.GetProperty("title").GetString() ?? "";
                Assert.True(title.Contains(reason, StringComparison.Ordinal), $"{Path.GetFileName(file)} as {format}: {title}");
                Assert.Empty(LibraryFiles().Except(before));
            }

            // A raw disk whose first bytes are a qcow2 header naming /etc/shadow: raw it was sent, raw it stays.
            var header = File.ReadAllBytes(shadow);
            Array.Resize(ref header, 1024 * 1024);
            var disguised = Path.Combine(work, "disguised.raw");
            File.WriteAllBytes(disguised, header);
            var accepted = await UploadAsync(page, disguised, "disk", "raw", "disguised");
            Assert.Equal(201, accepted.Status);
            var image = (await accepted.JsonAsync())!.Value;
            Assert.Equal(1024 * 1024, image.GetProperty("virtualSize").GetInt64());
            var stored = Path.Combine(paddock.LibraryDir, $"{image.GetProperty("sha256").GetString()}.qcow2");
            Assert.DoesNotContain("backing", await PaddockFixture.RunAsync("qemu-img", "info", "-f", "qcow2", stored));
            Assert.Equal(PaddockFixture.Sha256Of(disguised), image.GetProperty("uploadSha256").GetString());

            // The UI says what is wrong next to the file field.
            await page.GotoAsync("/images");
            await PaddockFixture.InteractiveAsync(page);
            await page.GetByLabel("Image name").FillAsync("noise");
            await page.GetByLabel("File").SetInputFilesAsync(random);
            await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();
            await Assertions.Expect(page.Locator("#image-file-error")).ToContainTextAsync("This is not an ISO 9660 CD image");

            // Another member sees neither the image nor a hint of it.
            var other = await paddock.SignInAsync(PaddockFixture.Bob);
            Assert.Equal(404, (await other.APIRequest.GetAsync($"/api/images/{image.GetProperty("id").GetGuid()}")).Status);
            Assert.DoesNotContain("disguised", await (await other.APIRequest.GetAsync("/api/images")).TextAsync());
            await other.Context.CloseAsync();

            // Too big for the admins' limit: refused while it streams, nothing kept.
            var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
            await admin.GotoAsync("/images");
            await PaddockFixture.InteractiveAsync(admin);
            await admin.GetByLabel("Upload limit (MiB)").FillAsync("1");
            await admin.GetByRole(AriaRole.Button, new() { Name = "Save limits" }).ClickAsync();
            await Eventually.Async(async () => await LimitAsync(page) == 1, TimeSpan.FromSeconds(10), "the limit to apply");
            var tooBig = await paddock.UploadAsync(page, "name=too-big&kind=iso&format=raw", await File.ReadAllBytesAsync(Iso));
            Assert.Equal(413, tooBig.Status);
            Assert.Contains("more than the upload limit of 1 MiB", tooBig.Body);
            Assert.Single(LibraryFiles().Except(before));
            await admin.GetByLabel("Upload limit (MiB)").FillAsync("4096");
            await admin.GetByRole(AriaRole.Button, new() { Name = "Save limits" }).ClickAsync();
            await Eventually.Async(async () => await LimitAsync(page) == 4096, TimeSpan.FromSeconds(10), "the limit back");
            await admin.Context.CloseAsync();

            Assert.Equal(204,
                (await page.APIRequest.DeleteAsync($"/api/images/{image.GetProperty("id").GetGuid()}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task A_disk_image_uploaded_once_boots_vms_on_two_hosts_that_each_fetch_it_into_their_own_cache()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Kate);
        var (status, body) = await paddock.UploadAsync(page, "name=busybox-disk&kind=disk&format=qcow2",
            await File.ReadAllBytesAsync(Path.Combine(paddock.ImagesDir, "builtin-busybox.qcow2")));
        Assert.True(status == 201, body);
        var image = JsonSerializer.Deserialize<JsonElement>(body);
        var file = $"{image.GetProperty("sha256").GetString()}.qcow2";
        var imageId = image.GetProperty("id").GetGuid();

        await paddock.StartSecondAgentAsync();
        try
        {
            await Eventually.Async(async () => await paddock.ConnectedHostsAsync() == 2, TimeSpan.FromSeconds(60), "the second host");

            // The bigger host takes the first VM; with it away, the second host takes the next one.
            var first = await CreateFromImageAsync(page, imageId, "on-host-1");
            Assert.Equal("e2e-host", await paddock.HostNameOfAsync(first));
            await GuestSerial.WaitForShellAsync(Path.Combine(paddock.VmsDir, first.ToString()));
            await paddock.KillAgentAsync();
            await Eventually.Async(async () => await paddock.ConnectedHostsAsync() == 1, TimeSpan.FromSeconds(60), "the first host to be away");
            var second = await CreateFromImageAsync(page, imageId, "on-host-2");
            Assert.Equal("e2e-host-2", await paddock.HostNameOfAsync(second));
            await GuestSerial.WaitForShellAsync(Path.Combine(paddock.SecondAgentDir, "vms", second.ToString()));
            paddock.StartAgent();
            await Eventually.Async(async () => await paddock.ConnectedHostsAsync() == 2, TimeSpan.FromSeconds(60), "the first host back");

            // Each host fetched the image once into its own cache, and both copies are the library's bytes.
            foreach (var cache in new[] { paddock.ImagesDir, Path.Combine(paddock.SecondAgentDir, "images") })
            {
                Assert.Equal(image.GetProperty("sha256").GetString(), PaddockFixture.Sha256Of(Path.Combine(cache, file)));
            }

            foreach (var id in new[] { first, second })
            {
                Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{id}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
                await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, id) == "Stopped", TimeSpan.FromSeconds(60), "the VM to stop");
                Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{id}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
                await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{id}")).Status == 404, TimeSpan.FromSeconds(60), "the VM to go");
            }
        }
        finally
        {
            await paddock.StopSecondAgentAsync();
        }

        Assert.Equal(204, (await page.APIRequest.DeleteAsync($"/api/images/{imageId}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await page.Context.CloseAsync();
    }

    private static async Task<Guid> CreateFromImageAsync(IPage page, Guid imageId, string name)
    {
        var response = await page.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, vcpus = 1, memoryMiB = 128, imageId } });
        Assert.True(response.Status == 201, await response.TextAsync());
        return (await response.JsonAsync())!.Value.GetProperty("id").GetGuid();
    }

    private static async Task<int> LimitAsync(IPage page) =>
        (await (await page.APIRequest.GetAsync("/api/images/limits")).JsonAsync())!.Value.GetProperty("maxUploadMiB").GetInt32();

    private IEnumerable<string> LibraryFiles() =>
        Directory.Exists(paddock.LibraryDir) ? Directory.EnumerateFiles(paddock.LibraryDir, "*", SearchOption.AllDirectories) : [];

    private static Task<IAPIResponse> UploadAsync(IPage page, string file, string kind, string format, string name) =>
        page.APIRequest.PostAsync($"/api/images?name={name}&kind={kind}&format={format}", new()
        {
            Headers = new Dictionary<string, string>(PaddockFixture.ApiHeaders) { ["Content-Type"] = "application/octet-stream" },
            DataByte = File.ReadAllBytes(file),
        });

    private static async Task<Guid> ImageIdAsync(IPage page, string name) =>
        (await (await page.APIRequest.GetAsync("/api/images")).JsonAsync())!.Value.EnumerateArray()
            .Single(i => i.GetProperty("name").GetString() == name).GetProperty("id").GetGuid();

    private static async Task<JsonElement> VmAsync(IPage page, Guid id) => (await (await page.APIRequest.GetAsync($"/api/vms/{id}")).JsonAsync())!.Value;

    private static IEnumerable<string> OpenFiles(int pid) =>
        Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Select(fd => new FileInfo(fd).LinkTarget ?? "");

}
