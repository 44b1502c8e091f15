using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class AgentRestartTests(PaddockFixture paddock) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After each test, even a failed one: the agent it killed runs again for the tests that follow.</summary>
    public Task DisposeAsync() => paddock.EnsureAgentAsync();

    [Fact]
    public async Task A_vm_keeps_running_when_its_agent_is_killed_and_the_new_agent_reattaches_to_it()
    {
        var (page, vmId) = await paddock.CarolsRunningVmAsync();
        var pidFile = Path.Combine(paddock.VmsDir, vmId.ToString(), "qemu", "qemu.pid");
        var qemu = int.Parse(File.ReadAllText(pidFile).Trim());

        var killedAt = DateTimeOffset.UtcNow;
        var oldAgent = await paddock.KillAndRestartAgentAsync();

        // QEMU runs in its own session: the agent's death did not take it along.
        Assert.True(File.Exists($"/proc/{qemu}/status"));
        Assert.DoesNotContain("State:\tZ", File.ReadAllText($"/proc/{qemu}/status"));
        Assert.NotEqual(oldAgent, qemu);

        // The new agent registers, re-attaches through the run directory and reports the truth.
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(60), "the new agent to register");
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Status" })).ToHaveTextAsync("Running");
        Assert.Equal(qemu, int.Parse(File.ReadAllText(pidFile).Trim()));

        // It can still act on the VM: the console works through the new agent.
        await page.GetByRole(AriaRole.Link, new() { Name = "Console", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        await page.GetByRole(AriaRole.Link, new() { Name = "Back to the VM" }).ClickAsync();
    }

    [Fact]
    public async Task A_restarted_agent_keeps_every_running_vms_label_and_a_record_changed_behind_the_portals_back_holds_its_vm_until_an_admin_resolves_it()
    {
        var omar = await paddock.SignInAsync(PaddockFixture.Omar);
        var kept = await VmApi.CreateRunningAsync(omar, "label-kept", memoryMiB: 128);
        var tampered = await VmApi.CreateRunningAsync(omar, "label-tampered", memoryMiB: 128);
        var before = RunningVms().ToDictionary(v => v.Id);
        Assert.Contains(kept, before.Keys);
        Assert.Contains(tampered, before.Keys);
        var (label, uid) = (before[tampered].Label, before[tampered].QemuUid);

        // While the agent is down, the host's record of one VM is changed: another label, another uid.
        var killedAt = DateTimeOffset.UtcNow;
        await paddock.KillAgentAsync();
        var specFile = Path.Combine(paddock.VmsDir, tampered.ToString(), "spec.json");
        var spec = JsonNode.Parse(await File.ReadAllTextAsync(specFile))!.AsObject();
        spec["Label"] = label == "s0:c0,c1" ? "s0:c0,c2" : "s0:c0,c1";
        spec["Uid"] = uid + 1;
        await File.WriteAllTextAsync(specFile, spec.ToJsonString());
        paddock.StartAgent();
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(60), "the new agent to register");

        // The changed record holds its VM, and only that one; every QEMU still runs as before, under the same label.
        await Eventually.Async(async () => await HeldAsync(omar, tampered), TimeSpan.FromSeconds(30), "the tampered VM to be held");
        Assert.False(await HeldAsync(omar, kept));
        foreach (var (id, vm) in RunningVms().Where(v => before.ContainsKey(v.Id) && v.Id != tampered).Select(v => (v.Id, v)))
        {
            Assert.Equal(before[id], vm);
        }

        Assert.Equal(uid, RunningVms().Single(v => v.Id == tampered).QemuUid);

        // The admin is alerted: a count in the navigation, the alert with both records on the Isolation page.
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await Assertions.Expect(admin.GetByLabel("1 isolation alerts")).ToBeVisibleAsync();
        await admin.GotoAsync("/admin/isolation");
        await PaddockFixture.InteractiveAsync(admin);
        var alert = admin.GetByRole(AriaRole.Alert, new() { Name = "Isolation alert of label-tampered" });
        await Assertions.Expect(alert).ToContainTextAsync($"in the portal");
        await Assertions.Expect(alert).ToContainTextAsync(label!);
        await Assertions.Expect(alert).ToContainTextAsync($"uid {uid + 1} on the host, {uid} in the portal");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "isolation-alert.png"), FullPage = true });

        // Its owner reads that the VM is held, without the numbers; once stopped it does not start.
        await omar.GotoAsync($"/vms/{tampered}");
        await PaddockFixture.InteractiveAsync(omar);
        await Assertions.Expect(omar.GetByRole(AriaRole.Alert, new() { Name = "Isolation alert" })).ToContainTextAsync("An admin was alerted");
        Assert.Equal(202, (await omar.APIRequest.PostAsync($"/api/vms/{tampered}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(omar, tampered) == "Stopped", PaddockFixture.Boot, "the held VM powered off");
        var refused = await omar.APIRequest.PostAsync($"/api/vms/{tampered}/start", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(409, refused.Status);
        Assert.Contains("Start is held", await refused.TextAsync());
        Assert.Equal(403, (await omar.APIRequest.PostAsync($"/api/vms/{tampered}/isolation/resolve", new() { Headers = PaddockFixture.ApiHeaders })).Status);

        // The admin resolves it: the host gets the portal's record back, and the VM starts under its own uid again.
        await alert.GetByRole(AriaRole.Button, new() { Name = "Resolve the alert of label-tampered" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Resolve" }).ClickAsync();
        await Assertions.Expect(alert).ToHaveCountAsync(0);
        await Eventually.Async(async () =>
        {
            var restored = JsonNode.Parse(await File.ReadAllTextAsync(specFile))!;
            return restored["Label"]!.GetValue<string>() == label && restored["Uid"]!.GetValue<int>() == uid;
        }, TimeSpan.FromSeconds(30), "the host's record to be the portal's again");
        Assert.False(await HeldAsync(omar, tampered));
        Assert.Equal(202, (await omar.APIRequest.PostAsync($"/api/vms/{tampered}/start", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.RunningAndIdleAsync(omar, tampered);
        Assert.Equal(uid, RunningVms().Single(v => v.Id == tampered).QemuUid);
        Assert.False(await HeldAsync(omar, tampered));

        foreach (var id in new[] { kept, tampered })
        {
            Assert.Equal(202, (await omar.APIRequest.PostAsync($"/api/vms/{id}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(omar, id) == "Stopped", PaddockFixture.Boot, "powered off");
            Assert.Equal(202, (await omar.APIRequest.PostAsync($"/api/vms/{id}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        }

        await admin.Context.CloseAsync();
        await omar.Context.CloseAsync();
    }

    private sealed record RunningVm(Guid Id, string? Label, int SpecUid, int QemuUid);

    /// <summary>Every VM of the main host whose QEMU runs: the agent's record of its label and uid, and whom the kernel says QEMU runs as.</summary>
    private IEnumerable<RunningVm> RunningVms()
    {
        foreach (var dir in Directory.EnumerateDirectories(paddock.VmsDir))
        {
            var pidFile = Path.Combine(dir, "qemu", "qemu.pid");
            var specFile = Path.Combine(dir, "spec.json");
            if (!File.Exists(pidFile) || !File.Exists(specFile) || !Guid.TryParse(Path.GetFileName(dir), out var id))
            {
                continue;
            }

            var status = $"/proc/{File.ReadAllText(pidFile).Trim()}/status";
            if (!File.Exists(status))
            {
                continue;
            }

            var uid = int.Parse(File.ReadAllLines(status).First(l => l.StartsWith("Uid:", StringComparison.Ordinal))
                .Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
            var spec = JsonNode.Parse(File.ReadAllText(specFile))!;
            yield return new RunningVm(id, spec["Label"]?.GetValue<string>(), spec["Uid"]!.GetValue<int>(), uid);
        }
    }

    private static async Task<bool> HeldAsync(IPage page, Guid vmId) =>
        (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value.GetProperty("startHeld").GetBoolean();
}
