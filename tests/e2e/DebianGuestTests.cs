using System.Diagnostics;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Issue 23's proof, on one Debian boot under TCG: the "Debian 12 (cloud)" template becomes ready
/// once its background build ends; a bad user-data is refused at create with its line; a VM made
/// with a generated SSH key (kept in the profile, picked by its id) and a user-data that writes a
/// marker is reached over SSH through a port
/// forward, as the user the create asked for, with the hostname it asked for and the marker; its
/// guest agent reports the guest's OS, hostname and the address the network gave it, on the API and
/// on the VM page, where the SSH command shown works; a snapshot of the running VM freezes and thaws its file systems and is recorded
/// as consistent; Shutdown goes through the guest agent; an edit of the guest setup on the VM page
/// is in the seed its host makes at the next start.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class DebianGuestTests(PaddockFixture paddock)
{
    private static readonly Guid Debian = new("0d0c0000-0000-4000-8000-000000000002");

    /// <summary>The template's build (about 4 minutes alone, more beside the other tests) runs from the start of the run.</summary>
    private static readonly TimeSpan BuildWait = TimeSpan.FromMinutes(25);

    /// <summary>A first boot under TCG: cloud-init ends about a minute in here (58 s by hand, beside a test).</summary>
    private static readonly TimeSpan FirstBoot = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task A_debian_vm_takes_its_user_keys_hostname_and_user_data_and_is_reached_over_ssh_and_bad_user_data_is_refused_with_its_line()
    {
        var nell = await paddock.SignInAsync(PaddockFixture.Nell);
        Guid? vm = null;
        var keys = Directory.CreateTempSubdirectory("paddock-ssh-");
        try
        {
            await Eventually.Async(async () => (await TemplateAsync(nell)).GetProperty("state").GetString() == "Ready", BuildWait,
                "the Debian template built and ready (see artifacts and logs/debian-template.log)");
            Assert.True((await TemplateAsync(nell)).GetProperty("cloudInit").GetBoolean());

            await RefusesBadUserDataAsync(nell);

            var key = Path.Combine(keys.FullName, "id_ed25519");
            await RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nell@e2e", "-f", key]);
            var marker = $"marker-{Guid.NewGuid():N}";
            var (keyId, fingerprint) = await KeepKeyAsync(nell, await File.ReadAllTextAsync(key + ".pub"));
            Assert.Contains(fingerprint, await RunAsync("ssh-keygen", ["-l", "-f", key + ".pub"]), StringComparison.Ordinal);
            await DialogRefusesBadUserDataAsync(nell, fingerprint);
            vm = await CreateAsync(nell, keyId, marker);

            var reach = await ForwardSshAsync(nell, vm.Value);
            var said = "";
            await Eventually.Async(async () =>
            {
                said = await SshAsync(key, reach, "cat /etc/paddock-marker; echo; hostname; id -un");
                return said.Contains(marker, StringComparison.Ordinal);
            }, FirstBoot, $"an SSH login as alice through {reach} reading the marker");
            Assert.Equal([marker, "deb-e2e", "alice"], said.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

            await GuestAgentReportsAsync(nell, vm.Value, key, reach);
            await SetsPasswordThroughTheAgentAsync(nell, vm.Value, key, reach);
            await ConsistentSnapshotAsync(nell, vm.Value);
            await ShutdownThroughTheAgentAsync(nell, vm.Value);
            await EditTakesEffectAtTheNextBootAsync(nell, vm.Value);
        }
        finally
        {
            if (vm is { } id)
            {
                await VmApi.DeleteAsync(nell, id);
            }

            keys.Delete(recursive: true);
            await nell.Context.CloseAsync();
        }
    }

    /// <summary>
    /// The guest agent answers with the guest's OS, hostname and the address the VM's network leased it, on the API and on the VM page,
    /// and the page shows the SSH command through the forward, which works as shown.
    /// </summary>
    private async Task GuestAgentReportsAsync(IPage page, Guid vm, string key, string reach)
    {
        var address = (await VmApi.GetAsync(page, vm)).GetProperty("address").GetString()!;
        System.Text.Json.JsonElement guest = default;
        await Eventually.Async(async () =>
        {
            guest = (await (await page.APIRequest.GetAsync($"/api/vms/{vm}/guest")).JsonAsync())!.Value;
            return guest.GetProperty("agent").GetString() == "answering"
                && guest.GetProperty("nics").EnumerateArray().Any(n => n.GetProperty("addresses").EnumerateArray().Any(a => a.GetString()!.StartsWith(address + "/", StringComparison.Ordinal)));
        }, TimeSpan.FromMinutes(2), $"the guest agent answering with the address {address}");
        Assert.Equal("deb-e2e", guest.GetProperty("hostname").GetString());
        Assert.Contains("Debian GNU/Linux 12", guest.GetProperty("os").GetString(), StringComparison.Ordinal);

        await page.GotoAsync($"/vms/{vm}");
        await PaddockFixture.InteractiveAsync(page);
        await Assertions.Expect(page.GetByLabel("Guest agent")).ToHaveTextAsync("Guest agent: answering");
        await Assertions.Expect(page.GetByLabel("Guest hostname")).ToHaveTextAsync("deb-e2e");
        await Assertions.Expect(page.GetByLabel("Addresses of eth0")).ToContainTextAsync(address + "/");
        var (host, port) = (reach[..reach.LastIndexOf(':')], reach[(reach.LastIndexOf(':') + 1)..]);
        var shown = page.GetByLabel("SSH command for eth0");
        await Assertions.Expect(shown).ToHaveTextAsync($"ssh -p {port} alice@{host}");
        Assert.Equal("deb-e2e", (await SshAsync(key, ReachOf(await shown.TextContentAsync() ?? ""), "hostname")).Trim());
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-guest-agent.png"), FullPage = true });
    }

    /// <summary>The owner sets alice's password through the guest agent: the guest's shadow file then holds a hash of exactly that password.</summary>
    private static async Task SetsPasswordThroughTheAgentAsync(IPage page, Guid vm, string key, string reach)
    {
        var asked = await page.APIRequest.PostAsync($"/api/vms/{vm}/guest/password",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { user = "alice", password = "new-secret-123" } });
        Assert.True(asked.Status == 202, await asked.TextAsync());
        var task = await VmApi.TaskEndedAsync(page, asked.Headers["location"]);
        Assert.Equal("The password of alice was set through the guest agent.", task.GetProperty("message").GetString());
        const string check = "sudo python3 -c 'import crypt; h = [l for l in open(\"/etc/shadow\") if l.startswith(\"alice:\")][0].split(\":\")[1]; print(crypt.crypt(\"new-secret-123\", h) == h)'";
        Assert.Equal("True", (await SshAsync(key, reach, check)).Trim());
        var refused = await page.APIRequest.PostAsync($"/api/vms/{vm}/guest/password",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { user = "alice", password = "short" } });
        Assert.Equal(422, refused.Status);
    }

    /// <summary>A snapshot of the running VM, between a freeze and a thaw of its file systems, recorded as consistent; the guest writes again after it.</summary>
    private static async Task ConsistentSnapshotAsync(IPage page, Guid vm)
    {
        var asked = await page.APIRequest.PostAsync($"/api/vms/{vm}/snapshots", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "frozen" } });
        Assert.True(asked.Status == 202, await asked.TextAsync());
        var task = await VmApi.TaskEndedAsync(page, asked.Headers["location"]);
        Assert.True(task.GetProperty("state").GetString() == "Succeeded", task.ToString());
        Assert.Equal("The guest agent froze the file systems around it: consistent.", task.GetProperty("message").GetString());
        var snapshot = Assert.Single((await VmApi.GetAsync(page, vm)).GetProperty("snapshots").EnumerateArray());
        Assert.True(snapshot.GetProperty("quiesced").GetBoolean());
    }

    /// <summary>Shutdown, asked through the API, is carried out by the guest agent and says so.</summary>
    private static async Task ShutdownThroughTheAgentAsync(IPage page, Guid vm)
    {
        var asked = await page.APIRequest.PostAsync($"/api/vms/{vm}/shutdown", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.True(asked.Status == 202, await asked.TextAsync());
        var task = await VmApi.TaskEndedAsync(page, asked.Headers["location"]);
        Assert.Equal("Shut down through the guest agent.", task.GetProperty("message").GetString());
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vm) == "Stopped", PaddockFixture.Boot, "the VM stopped");
    }

    /// <summary>
    /// The hostname changed on the VM page (Edit guest setup) while the VM is stopped is in the seed
    /// its host makes at the next start, with the next revision in the instance-id (what makes
    /// cloud-init run again; a second boot to watch it do so costs CI about a minute, which it does not have).
    /// </summary>
    private async Task EditTakesEffectAtTheNextBootAsync(IPage page, Guid vm)
    {
        await page.GotoAsync($"/vms/{vm}");
        await PaddockFixture.InteractiveAsync(page);
        await Assertions.Expect(page.GetByLabel("Guest setup")).ToContainTextAsync("revision 1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Edit guest setup" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await PaddockFixture.FillExactlyAsync(dialog.GetByLabel("Hostname"), "deb-e2e-2");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Save guest setup" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByLabel("Guest setup")).ToContainTextAsync("deb-e2e-2, user alice, revision 2");

        await VmApi.PowerAsync(page, vm, "start", "Running");
        var seed = Path.Combine(paddock.VmsDir, vm.ToString(), "seed.iso");
        var extracted = Directory.CreateTempSubdirectory("paddock-seed-");
        try
        {
            await RunAsync("xorriso", ["-osirrox", "on", "-indev", seed, "-extract", "/meta-data", Path.Combine(extracted.FullName, "meta-data")]);
            var metaData = await File.ReadAllTextAsync(Path.Combine(extracted.FullName, "meta-data"));
            Assert.Contains($"paddock-{vm:D}-2", metaData, StringComparison.Ordinal);
            Assert.Contains("deb-e2e-2", metaData, StringComparison.Ordinal);
        }
        finally
        {
            extracted.Delete(recursive: true);
        }

        await VmApi.PowerAsync(page, vm, "poweroff", "Stopped");
    }

    private static async Task<System.Text.Json.JsonElement> TemplateAsync(IPage page)
    {
        var answer = await page.APIRequest.GetAsync($"/api/templates/{Debian}");
        Assert.True(answer.Status == 200, $"the Debian template: {answer.Status} {await answer.TextAsync()}");
        return (await answer.JsonAsync())!.Value;
    }

    /// <summary>User-data whose fourth line breaks the YAML: 422, naming the field and the line.</summary>
    private static async Task RefusesBadUserDataAsync(IPage page)
    {
        var refused = await page.APIRequest.PostAsync("/api/vms", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new
            {
                name = "bad-yaml", vCpus = 1, memoryMiB = 512, templateId = Debian,
                guest = new { user = "alice", userData = "#cloud-config\nusers:\n  - name: a\n   bad: [x\n" },
            },
        });
        var text = await refused.TextAsync();
        Assert.True(refused.Status == 422, text);
        Assert.Contains("guest.userData", text, StringComparison.Ordinal);
        Assert.Contains("line 4", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("\"bad-yaml\"", await (await page.APIRequest.GetAsync("/api/vms")).TextAsync(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The New VM dialog from the Debian template shows the guest setup with the profile's key ticked,
    /// and a user-data with a bad fourth line is refused beside its field, naming the line.
    /// </summary>
    private async Task DialogRefusesBadUserDataAsync(IPage page, string fingerprint)
    {
        await page.GotoAsync("/templates");
        await PaddockFixture.InteractiveAsync(page);
        await page.GetByRole(AriaRole.Button, new() { Name = "New VM from Debian 12 (cloud)" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name", new() { Exact = true }).FillAsync("deb-dialog");
        await Assertions.Expect(dialog.GetByLabel($"e2e laptop ({fingerprint})")).ToBeCheckedAsync();
        await dialog.GetByLabel("User", new() { Exact = true }).FillAsync("alice");
        await dialog.GetByText("User-data and network-config (advanced)").ClickAsync();
        await dialog.GetByLabel("User-data").FillAsync("#cloud-config\nusers:\n  - name: a\n   bad: [x\n");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(dialog.GetByText("User-data line 4:")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "create-debian-guest-setup.png"), FullPage = true });
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
    }

    /// <summary>The key in nell's profile (through the API), listed on her SSH keys page with its fingerprint; its id and fingerprint.</summary>
    private static async Task<(Guid Id, string Fingerprint)> KeepKeyAsync(IPage page, string publicKey)
    {
        var added = await page.APIRequest.PostAsync("/api/account/ssh-keys",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "e2e laptop", publicKey = publicKey.Trim() } });
        Assert.True(added.Status == 201, await added.TextAsync());
        var key = (await added.JsonAsync())!.Value;
        var again = await page.APIRequest.PostAsync("/api/account/ssh-keys",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "again", publicKey = publicKey.Trim() } });
        Assert.Equal(422, again.Status);
        Assert.Contains("you keep this key already, as 'e2e laptop'", await again.TextAsync(), StringComparison.Ordinal);

        await page.GotoAsync("/account/ssh-keys");
        await PaddockFixture.InteractiveAsync(page);
        await Assertions.Expect(page.GetByRole(AriaRole.Row, new() { Name = "SSH key e2e laptop" }))
            .ToContainTextAsync(key.GetProperty("fingerprint").GetString()!);
        return (key.GetProperty("id").GetGuid(), key.GetProperty("fingerprint").GetString()!);
    }

    private static async Task<Guid> CreateAsync(IPage page, Guid keyId, string marker)
    {
        var userData = $"#cloud-config\nwrite_files:\n  - path: /etc/paddock-marker\n    content: {marker}\n";
        var created = await page.APIRequest.PostAsync("/api/vms", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new
            {
                name = "deb", vCpus = 1, memoryMiB = 512, templateId = Debian,
                guest = new { hostname = "deb-e2e", user = "alice", sshKeyIds = new[] { keyId }, userData },
            },
        });
        Assert.True(created.Status == 201, await created.TextAsync());
        var id = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(page, id);
        return id;
    }

    /// <summary>A forward of the guest's port 22; the host:port it is reached at.</summary>
    private static async Task<string> ForwardSshAsync(IPage page, Guid vm)
    {
        var added = await page.APIRequest.PostAsync($"/api/vms/{vm}/forwards",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { nicId = "net0", guestPort = 22 } });
        Assert.True(added.Status == 201, await added.TextAsync());
        return (await added.JsonAsync())!.Value.GetProperty("reach").GetString()!;
    }

    /// <summary>The host:port of a shown <c>ssh -p PORT user@HOST</c>.</summary>
    private static string ReachOf(string command)
    {
        var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words is ["ssh", "-p", _, _], command);
        return $"{words[3][(words[3].IndexOf('@') + 1)..]}:{words[2]}";
    }

    /// <summary>What <paramref name="command"/> printed over SSH, or "" when the login failed (not up yet).</summary>
    private static async Task<string> SshAsync(string key, string reach, string command)
    {
        var (host, port) = (reach[..reach.LastIndexOf(':')], reach[(reach.LastIndexOf(':') + 1)..]);
        try
        {
            return await RunAsync("ssh", ["-i", key, "-p", port, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", $"alice@{host}", command]);
        }
        catch (InvalidOperationException)
        {
            return "";
        }
    }

    /// <summary>Runs a program to its end (at most a minute); its output, or <see cref="InvalidOperationException"/> when it failed.</summary>
    private static async Task<string> RunAsync(string program, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{program} did not end within a minute");
        }

        return process.ExitCode == 0 ? await output : throw new InvalidOperationException($"{program} exited {process.ExitCode}: {await error}");
    }
}
