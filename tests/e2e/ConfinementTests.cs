using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// A host whose agent is not root cannot give a VM an own uid: no VM is placed or started there
/// unconfined until an admin allows it for that host, and the refusals say what is missing.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class ConfinementTests(PaddockFixture paddock)
{
    private const string Host = "e2e-unprivileged";
    private const string Lacks = "an own uid per VM (the agent does not run as root)";

    [Fact]
    public async Task A_host_whose_agent_is_not_root_takes_no_vm_until_an_admin_allows_unconfined_vms_there_and_the_refusals_say_what_is_missing()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var omar = await paddock.SignInAsync(PaddockFixture.Omar);
        await paddock.StartUnprivilegedAgentAsync("agent-unprivileged", Host, await paddock.JoinTokenAsync(Host));
        Dictionary<string, Guid> reachable = [];
        await Eventually.Async(async () =>
        {
            reachable = (await (await admin.APIRequest.GetAsync("/api/capacity")).JsonAsync())!.Value.EnumerateArray()
                .Where(h => h.GetProperty("reachable").GetBoolean())
                .ToDictionary(h => h.GetProperty("name").GetString()!, h => h.GetProperty("id").GetGuid());
            return reachable.ContainsKey(Host);
        }, TimeSpan.FromSeconds(60), "the unprivileged agent registered");

        var others = reachable.Where(h => h.Key != Host).Select(h => h.Value).ToList();
        Guid? vmId = null;
        try
        {
            // Only the unprivileged host could take a VM now.
            foreach (var other in others)
            {
                await PaddockFixture.MaintenanceAsync(admin, other, true);
            }

            // The admin sees what it gives and what it lacks.
            await admin.GotoAsync("/admin/capacity");
            await PaddockFixture.InteractiveAsync(admin);
            var confinement = admin.GetByLabel($"Confinement of {Host}");
            await Assertions.Expect(confinement).ToContainTextAsync("seccomp");
            await Assertions.Expect(confinement).ToContainTextAsync($"lacks {Lacks}");

            // Without the admin's leave, no host takes the VM: the member reads a sentence, the admin why per host.
            var refused = await omar.APIRequest.PostAsync("/api/vms",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "unconfined-vm", vCpus = 1, memoryMiB = 128 } });
            Assert.Equal(409, refused.Status);
            Assert.Contains("No host can take a VM right now", await refused.TextAsync());
            var detail = await admin.APIRequest.PostAsync("/api/vms",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "unconfined-admin", vCpus = 1, memoryMiB = 128 } });
            Assert.Equal(409, detail.Status);
            Assert.Contains($"{Host}: cannot confine VMs: lacks {Lacks}; unconfined VMs are not allowed on it", await detail.TextAsync());

            // The admin allows unconfined VMs on that host, after a warning.
            await admin.GetByLabel($"Unconfined VMs on {Host}").ClickAsync();
            await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Allow" }).ClickAsync();
            await Assertions.Expect(admin.GetByLabel($"Unconfined VMs on {Host}")).ToBeCheckedAsync();
            await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "capacity-unconfined.png"), FullPage = true });

            // An agent that is not root lays out no tenant network (bridges, namespaces, taps): placement
            // keeps a VM with a NIC on one off the host, and says so; one with an isolated NIC goes there.
            var onNetwork = await omar.APIRequest.PostAsync("/api/vms",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "unconfined-vm", vCpus = 1, memoryMiB = 128 } });
            Assert.Equal(409, onNetwork.Status);
            Assert.Contains("No host that carries tenant networks can take a VM right now", await onNetwork.TextAsync());
            var created = await omar.APIRequest.PostAsync("/api/vms", new()
            {
                Headers = PaddockFixture.ApiHeaders,
                DataObject = new { name = "unconfined-vm", vCpus = 1, memoryMiB = 128, nics = new[] { new { isolated = true } } },
            });
            Assert.True(created.Status == 201, await created.TextAsync());
            vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
            Assert.Equal(Host, await paddock.HostNameOfAsync(vmId.Value));
            await PaddockFixture.RunningAndIdleAsync(omar, vmId.Value);

            // Its QEMU runs as the agent's user, still under the seccomp sandbox.
            var pid = (await File.ReadAllTextAsync(
                Path.Combine(paddock.DataDir, "agent-unprivileged", "vms", vmId.Value.ToString(), "qemu", "qemu.pid"))).Trim();
            var status = await File.ReadAllLinesAsync($"/proc/{pid}/status");
            Assert.Equal(PaddockFixture.Nobody.ToString(), Field(status, "Uid"));
            Assert.Equal("2", Field(status, "Seccomp"));

            // Leave withdrawn: the VM runs on, but once stopped it does not start, and the refusal says what is missing.
            Assert.Equal(204,
                (await admin.APIRequest.PutAsync($"/api/hosts/{reachable[Host]}/unconfined",
                    new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { allowed = false } })).Status);
            Assert.Equal(202, (await omar.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(omar, vmId.Value) == "Stopped", PaddockFixture.Boot, "the VM powered off");
            var start = await omar.APIRequest.PostAsync($"/api/vms/{vmId}/start", new() { Headers = PaddockFixture.ApiHeaders });
            Assert.Equal(409, start.Status);
            var problem = (await start.JsonAsync())!.Value;
            Assert.Equal($"Not started unconfined: this host lacks {Lacks}. An admin can allow unconfined VMs on this host.",
                problem.GetProperty("title").GetString());
            Assert.Equal(202, (await omar.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
            await Eventually.Async(async () => (await omar.APIRequest.GetAsync($"/api/vms/{vmId}")).Status == 404, PaddockFixture.Boot, "the VM deleted");
            vmId = null;
        }
        finally
        {
            // The other hosts first: the tests after this one need them.
            foreach (var other in others)
            {
                await PaddockFixture.MaintenanceAsync(admin, other, false);
            }

            // The agent powers its VMs off as it stops; then the VM can go.
            await paddock.StopAgentAsync("agent-unprivileged");
            if (vmId is { } id)
            {
                await omar.APIRequest.PostAsync($"/api/vms/{id}/delete", new() { Headers = PaddockFixture.ApiHeaders });
            }

            await admin.Context.CloseAsync();
            await omar.Context.CloseAsync();
        }
    }

    private static string Field(IEnumerable<string> status, string name) =>
        status.First(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim().Split('\t', ' ')[0];
}
