using System.Net.Sockets;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Issue 15: a VM's uid is the attacker. Acting as that uid (what a guest that broke out of QEMU
/// holds), the tests plant what it could plant and drive the portal's operations; root must
/// follow none of it, and a refusal is said and audited.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class HostileQemuTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Console_sockets_swapped_for_links_to_another_VM_or_a_host_service_are_refused_and_audited()
    {
        var (_, victim) = await paddock.CarolsRunningVmAsync();
        var mallory = await paddock.SignInAsync(PaddockFixture.Mallory);
        var vmId = await VmApi.CreateRunningAsync(mallory, "mallory-consoles", memoryMiB: 256);
        using var host = new HostService(Path.Combine(paddock.DataDir, "hostile-sentinel"));

        // As the VM's uid, in QEMU's own directory: the screen now points at Carol's VM, the serial port at a host service.
        await AsVmUidAsync(vmId,
            $"rm -f qemu/vnc.sock qemu/serial.sock && ln -s {RunDir(victim)}/qemu/vnc.sock qemu/vnc.sock && ln -s {host.Path} qemu/serial.sock");

        var vnc = await PaddockFixture.ConsoleTicketAsync(mallory, vmId, "vnc");
        Assert.Null(await paddock.OpenConsoleAsync(mallory, $"/console/{vmId}/ws?ticket={vnc}", paddock.PortalUrl));
        var serial = await PaddockFixture.ConsoleTicketAsync(mallory, vmId, "serial");
        Assert.Null(await paddock.OpenConsoleAsync(mallory, $"/console/{vmId}/serial?ticket={serial}", paddock.PortalUrl));
        Assert.Equal(0, host.BytesReceived);
        Assert.Contains("not by the VM's QEMU", paddock.LogOf("agent"));

        // The console pages say why, without the host's details.
        foreach (var page in new[] { "console", "serial" })
        {
            await mallory.GotoAsync($"/vms/{vmId}/{page}");
            await Assertions.Expect(mallory.GetByTestId("console-refusal")).ToContainTextAsync("something in the VM's own directory was changed");
            Assert.DoesNotContain("pid", await mallory.GetByTestId("console-refusal").TextContentAsync() ?? "");
            await mallory.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, $"{page}-refused.png") });
        }

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/audit");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("VM id").FillAsync(vmId.ToString());
        await admin.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        var log = admin.GetByRole(AriaRole.Table, new() { Name = "Audit" });
        await Assertions.Expect(log).ToContainTextAsync("Vnc console refused by its host");
        await Assertions.Expect(log).ToContainTextAsync("Serial console refused by its host");
        await admin.Context.CloseAsync();

        // Carol's console still works: nothing of hers was touched.
        var carol = (await paddock.CarolsRunningVmAsync()).Page;
        var own = await PaddockFixture.ConsoleTicketAsync(carol, victim, "vnc");
        using var socket = await paddock.OpenConsoleAsync(carol, $"/console/{victim}/ws?ticket={own}", paddock.PortalUrl);
        Assert.NotNull(socket);
        await VmApi.DeleteAsync(mallory, vmId);
        await mallory.Context.CloseAsync();
    }

    [Fact]
    public async Task A_VM_cannot_plant_a_name_in_the_agents_directory_and_links_in_its_own_reach_nothing_on_start_or_delete()
    {
        var mallory = await paddock.SignInAsync(PaddockFixture.Mallory);
        var vmId = await VmApi.CreateRunningAsync(mallory, "mallory-links", memoryMiB: 256);
        var run = RunDir(vmId);
        var sentinel = Sentinel();
        var before = Checksums(sentinel);

        // The agent's directory: the VM's uid may pass, never add, swap or remove a name.
        foreach (var attempt in new[] { $"ln -sf {sentinel}/secret serial.log", "rm -f spec.json", "echo x > spec.json",
            "mv disk-disk0.qcow2 elsewhere", "ln -s /etc planted" })
        {
            Assert.Contains("denied", await AsVmUidFailingAsync(vmId, attempt), StringComparison.OrdinalIgnoreCase);
        }

        // Its own directory: links to host files and folders, a deep tree.
        var plant = $"ln -sf {sentinel}/secret qemu/evil && ln -sfn {sentinel} qemu/evil-dir && " +
            $"mkdir -p qemu/deep/er && ln -s {sentinel}/secret qemu/deep/er/x";
        await AsVmUidAsync(vmId, plant);
        await VmApi.PowerAsync(mallory, vmId, "poweroff", "Stopped");
        await VmApi.PowerAsync(mallory, vmId, "start", "Running");
        Assert.False(File.Exists(Path.Combine(run, "qemu", "evil")) || Directory.Exists(Path.Combine(run, "qemu", "deep")));
        Assert.Equal(before, Checksums(sentinel));

        // The serial log downloads as the guest wrote it, not as a planted name would have it.
        var download = await mallory.APIRequest.GetAsync($"/api/vms/{vmId}/serial-log");
        Assert.Equal(200, download.Status);
        Assert.DoesNotContain("sentinel-secret", await download.TextAsync());

        await AsVmUidAsync(vmId, plant);
        await VmApi.DeleteAsync(mallory, vmId);
        Assert.False(Directory.Exists(run));
        Assert.Equal(before, Checksums(sentinel));
        await mallory.Context.CloseAsync();
    }

    [Fact]
    public async Task A_disk_header_rewritten_to_name_a_host_file_is_refused_by_clone_and_convert_and_ignored_at_boot()
    {
        var mallory = await paddock.SignInAsync(PaddockFixture.Mallory);
        var vmId = await VmApi.CreateRunningAsync(mallory, "mallory-header", memoryMiB: 256);
        await VmApi.PowerAsync(mallory, vmId, "poweroff", "Stopped");
        var sentinel = Sentinel();
        var before = Checksums(sentinel);

        // The VM's uid owns its disk: it may rewrite the header's backing file to name a host file.
        await AsVmUidAsync(vmId, $"qemu-img rebase -u -f qcow2 -b {sentinel}/secret -F raw disk-disk0.qcow2");

        var cloned = await mallory.APIRequest.PostAsync($"/api/vms/{vmId}/clone",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "mallory-header-clone" } });
        Assert.True(cloned.Status == 201, await cloned.TextAsync());
        var cloneId = (await cloned.JsonAsync())!.Value.GetProperty("id").GetGuid();
        var refusal = $"names '{sentinel}/secret' as its backing file";
        Assert.Contains(refusal, await FailedTaskAsync(mallory, cloneId, "Create"));

        var converted = await mallory.APIRequest.PostAsync($"/api/vms/{vmId}/template",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "mallory-header-template", description = "" } });
        Assert.True(converted.Status is 201 or 202, await converted.TextAsync());
        Assert.Contains(refusal, await FailedTaskAsync(mallory, vmId, "ConvertToTemplate"));

        // QEMU takes the backing chain from its command line, not from the header: the guest boots from its template.
        var banners = GuestSerial.Banners(Path.Combine(RunDir(vmId), "serial.log"));
        await VmApi.PowerAsync(mallory, vmId, "start", "Running");
        await GuestSerial.WaitForShellAsync(RunDir(vmId), banners + 1, "the guest's shell, despite its header");
        Assert.Equal(before, Checksums(sentinel));
        Assert.False(File.Exists(Path.Combine(paddock.ImagesDir, ".partial-" + vmId.ToString("N") + ".qcow2")));

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/audit");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("VM id").FillAsync(vmId.ToString());
        await admin.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Audit" })).ToContainTextAsync("ConvertToTemplate refused by its host");
        await admin.Context.CloseAsync();
        await VmApi.DeleteAsync(mallory, vmId);
        await mallory.Context.CloseAsync();
    }

    [Fact]
    public async Task Links_fifos_and_a_forged_pidfile_left_in_QEMUs_directory_reach_nothing_through_save_restore_snapshot_hotplug_and_grow()
    {
        var (_, victim) = await paddock.CarolsRunningVmAsync();
        var mallory = await paddock.SignInAsync(PaddockFixture.Mallory);
        var vmId = await VmApi.CreateRunningAsync(mallory, "mallory-operations", memoryMiB: 256);
        var sentinel = Sentinel();
        var before = Checksums(sentinel);

        // What a compromised QEMU leaves behind: every name the agent or the next QEMU might use, pointing away.
        var plant = $"ln -sfn {sentinel}/secret qemu/restore.sock; ln -sfn {RunDir(victim)}/qemu/qmp.sock qemu/save.sock; "
            + $"ln -sfn {sentinel} qemu/state; rm -f qemu/fifo; mkfifo qemu/fifo";
        await AsVmUidAsync(vmId, plant);
        await VmApi.PowerAsync(mallory, vmId, "save", "Saved");
        await AsVmUidAsync(vmId, plant + $"; rm -f qemu/qemu.pid; mkfifo qemu/qemu.pid");
        await VmApi.PowerAsync(mallory, vmId, "restore", "Running");

        await AsVmUidAsync(vmId, plant);
        var snapshot = await mallory.APIRequest.PostAsync(
            $"/api/vms/{vmId}/snapshots", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "planted" } });
        Assert.True(snapshot.Status == 202, await snapshot.TextAsync());
        await Eventually.Async(async () => (await VmApi.GetAsync(mallory, vmId)).GetProperty("snapshots").GetArrayLength() == 1, PaddockFixture.Boot, "the snapshot");
        await ChangeAsync(mallory, vmId, new { action = "AddDisk", sizeMiB = 16 }, vm => vm.GetProperty("extraDisks").GetArrayLength() == 1);
        var grownMiB = (await VmApi.GetAsync(mallory, vmId)).GetProperty("diskBytes").GetInt64() / (1024 * 1024) + 16;
        await ChangeAsync(
            mallory, vmId, new { action = "GrowDisk", device = "disk0", sizeMiB = grownMiB }, vm => vm.GetProperty("diskBytes").GetInt64() == grownMiB * 1024 * 1024);

        // Carol's VM still answers on its own monitor and screen; no host file changed.
        var carol = (await paddock.CarolsRunningVmAsync()).Page;
        var ticket = await PaddockFixture.ConsoleTicketAsync(carol, victim, "vnc");
        using (var socket = await paddock.OpenConsoleAsync(carol, $"/console/{victim}/ws?ticket={ticket}", paddock.PortalUrl))
        {
            Assert.NotNull(socket);
        }

        Assert.Equal("Running", await PaddockFixture.IdleStatusAsync(mallory, vmId));
        Assert.Equal(before, Checksums(sentinel));
        await VmApi.DeleteAsync(mallory, vmId);
        Assert.Equal(before, Checksums(sentinel));
        await mallory.Context.CloseAsync();
    }

    /// <summary>Asks for a hardware change and waits until the VM shows it and rests again.</summary>
    private static async Task ChangeAsync(IPage page, Guid vmId, object change, Func<System.Text.Json.JsonElement, bool> done)
    {
        var response = await page.APIRequest.PostAsync($"/api/vms/{vmId}/hardware", new() { Headers = PaddockFixture.ApiHeaders, DataObject = change });
        Assert.True(response.Status == 202, $"{change}: {response.Status} {await response.TextAsync()}");
        await Eventually.Async(
            async () => done(await VmApi.GetAsync(page, vmId)) && await PaddockFixture.IdleStatusAsync(page, vmId) == "Running",
            PaddockFixture.Boot,
            $"{change} done");
    }

    private string RunDir(Guid vmId) => Path.Combine(paddock.VmsDir, vmId.ToString());

    /// <summary>The message of the VM's newest task of <paramref name="verb"/>, once it has failed.</summary>
    private static async Task<string> FailedTaskAsync(IPage page, Guid vmId, string verb)
    {
        string? message = null;
        await Eventually.Async(async () =>
        {
            var tasks = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}/tasks")).JsonAsync())!.Value.EnumerateArray();
            var task = tasks.FirstOrDefault(t => t.GetProperty("verb").GetString() == verb);
            var state = task.ValueKind == System.Text.Json.JsonValueKind.Object ? task.GetProperty("state").GetString() : null;
            Assert.NotEqual("Succeeded", state);
            message = state == "Failed" ? task.GetProperty("message").GetString() : null;
            return message is not null;
        }, PaddockFixture.Boot, $"the {verb} task to fail");
        return message!;
    }

    /// <summary>Runs a shell line in the VM's run directory as the VM's uid (the owner of its QEMU directory); it must succeed.</summary>
    private async Task AsVmUidAsync(Guid vmId, string script)
    {
        var (code, error) = await RunAsVmUidAsync(vmId, script);
        Assert.True(code == 0, $"'{script}' failed as the VM's uid: {error}");
    }

    /// <summary>The same, for what must fail: its error output.</summary>
    private async Task<string> AsVmUidFailingAsync(Guid vmId, string script)
    {
        var (code, error) = await RunAsVmUidAsync(vmId, script);
        Assert.True(code != 0, $"'{script}' succeeded as the VM's uid");
        return error;
    }

    private async Task<(int Code, string Error)> RunAsVmUidAsync(Guid vmId, string script)
    {
        var uid = await PaddockFixture.RunAsync("stat", "-c", "%u", Path.Combine(RunDir(vmId), "qemu"));
        var start = new System.Diagnostics.ProcessStartInfo("setpriv") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "--reuid", uid, "--regid", uid, "--clear-groups", "--", "sh", "-c", $"cd {RunDir(vmId)} && {script}" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await PaddockFixture.EndedWithinAsync(process, TimeSpan.FromMinutes(5), "a script as the VM's uid");
        await output;
        return (process.ExitCode, error);
    }

    /// <summary>Host files no VM may reach: root's, 0600, in a root-only folder.</summary>
    private string Sentinel()
    {
        var directory = Path.Combine(paddock.DataDir, $"sentinel-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(directory, "secret"), "sentinel-secret\n");
        File.SetUnixFileMode(Path.Combine(directory, "secret"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return directory;
    }

    private static string Checksums(string directory) =>
        string.Join('\n',
            Directory.EnumerateFileSystemEntries(directory).Order()
                .Select(f => $"{Path.GetFileName(f)} {File.GetUnixFileMode(f)} {PaddockFixture.Sha256Of(f)}"));

    /// <summary>A unix socket of the host's, standing for any host service: it counts what it is sent.</summary>
    private sealed class HostService : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly CancellationTokenSource _stop = new();
        private int _bytes;

        public HostService(string directory)
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Path = System.IO.Path.Combine(directory, $"{Guid.NewGuid():N}.sock"[..12]);
            _listener.Bind(new UnixDomainSocketEndPoint(Path));
            _listener.Listen(8);
            _ = AcceptAsync();
        }

        public string Path { get; }

        public int BytesReceived => Volatile.Read(ref _bytes);

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptAsync(_stop.Token);
                    _ = Task.Run(async () =>
                    {
                        using (client)
                        {
                            var buffer = new byte[4096];
                            int read;
                            while ((read = await client.ReceiveAsync(buffer, _stop.Token)) > 0)
                            {
                                Interlocked.Add(ref _bytes, read);
                            }
                        }
                    });
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Dispose();
            File.Delete(Path);
        }
    }
}
