using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Provider networks in the portal, no boot: an admin makes one for one group on the Networks page;
/// a member of the group sees it, picks it and puts a NIC on it (an address from the outside, none of
/// ours); another member gets what a random id gets and cannot make one. The host interface exists
/// on no host here: no VM on it starts (the agent's side is TenantNetworkHostTests).
/// </summary>
public sealed partial class NetworkTests
{
    [Fact]
    public async Task A_provider_network_offered_to_one_group_is_seen_and_used_by_its_members_only_and_made_by_admins_only()
    {
        var group = $"prov-{Guid.NewGuid():N}"[..10];
        var name = $"outside-{Guid.NewGuid():N}"[..12];
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await MakeGroupAsync(admin, group, PaddockFixture.Neta);
        var id = await MakeProviderNetworkAsync(admin, name, group);
        var row = admin.GetByRole(AriaRole.Row, new() { Name = $"Network {name}", Exact = true });
        await Assertions.Expect(row).ToContainTextAsync($"Provider network on pvnet9 VLAN 42, offered to {group}");
        await Assertions.Expect(row).ToContainTextAsync("192.0.2.0/24 192.0.2.1 —");

        // The group's member sees it and puts a NIC on it: a MAC and no address of ours.
        var neta = await paddock.SignInAsync(PaddockFixture.Neta);
        var listed = (await (await neta.APIRequest.GetAsync("/api/networks")).JsonAsync())!.Value.EnumerateArray().Single(n => n.GetProperty("id").GetGuid() == id);
        Assert.Equal("pvnet9", listed.GetProperty("provider").GetProperty("interface").GetString());
        Assert.Equal(0, listed.GetProperty("provider").GetProperty("groups").GetArrayLength());
        Assert.False(listed.GetProperty("mayChange").GetBoolean());
        var vmName = $"prov-{Guid.NewGuid():N}"[..10];
        var vmId = await CreateAsync(neta, vmName, new { networkId = id });
        var nic = (await VmApi.GetAsync(neta, vmId)).GetProperty("nics")[0];
        Assert.Equal(id, nic.GetProperty("networkId").GetGuid());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, nic.GetProperty("address").ValueKind);
        await neta.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(neta);
        await Assertions.Expect(neta.GetByLabel("IP of net0")).ToHaveTextAsync("from the provider network");
        await neta.GetByLabel("Network of the new NIC").ClickAsync();
        await Assertions.Expect(neta.GetByRole(AriaRole.Option, new() { Name = $"{name} (provider network, 192.0.2.0/24)" })).ToBeVisibleAsync();
        await neta.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "provider-network-picker.png"), FullPage = true });

        // Both kinds on the admin's page, the NIC shown without an address of ours.
        var lab = await CreateNetworkAsync(admin, $"lab-{Guid.NewGuid():N}"[..10], "10.79.0.0/24");
        await admin.GotoAsync("/networks");
        await PaddockFixture.InteractiveAsync(admin);
        await Assertions.Expect(admin.GetByLabel($"NICs on {name}")).ToContainTextAsync($"{vmName} (from the provider network)");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "networks-page-provider.png"), FullPage = true });
        Assert.Equal(204, (await admin.APIRequest.DeleteAsync($"/api/networks/{lab}", new() { Headers = PaddockFixture.ApiHeaders })).Status);

        // Another member: the same 404 as for a random id, nothing of it in the list, no NIC on it, no provider network of their own.
        var niko = await paddock.SignInAsync(PaddockFixture.Niko);
        var foreign = await AnswerAsync(niko, "GET", $"/api/networks/{id}", null);
        Assert.Equal((await AnswerAsync(niko, "GET", $"/api/networks/{Guid.Empty}", null)).Replace(Guid.Empty.ToString(), "{id}"), foreign.Replace(id.ToString(), "{id}"));
        Assert.StartsWith("404 ", foreign);
        Assert.DoesNotContain(name, await (await niko.APIRequest.GetAsync("/api/networks")).TextAsync());
        var onIt = await niko.APIRequest.PostAsync("/api/vms", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { name = "niko-out", vCpus = 1, memoryMiB = 128, start = false, nics = new[] { new { networkId = id } } },
        });
        Assert.Equal(422, onIt.Status);
        Assert.StartsWith("403 ", await AnswerAsync(neta, "POST", "/api/networks/providers", new { name = "mine", @interface = "eth1", everyone = true }));
        Assert.StartsWith("403 ", await AnswerAsync(neta, "PUT", $"/api/networks/{id}", new { everyone = true }));

        // Offered to everyone by the admin: now the other member sees it too.
        var edited = await admin.APIRequest.PutAsync($"/api/networks/{id}", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { everyone = true } });
        Assert.True(edited.Status == 200, await edited.TextAsync());
        Assert.True((await (await niko.APIRequest.GetAsync($"/api/networks/{id}")).JsonAsync())!.Value.GetProperty("provider").GetProperty("everyone").GetBoolean());

        // Not deleted while the NIC is on it, naming the VM; then gone.
        var refused = await admin.APIRequest.DeleteAsync($"/api/networks/{id}", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(409, refused.Status);
        Assert.Contains($"VM '{vmName}'", await refused.TextAsync());
        await VmApi.DeleteAsync(neta, vmId);
        Assert.Equal(204, (await admin.APIRequest.DeleteAsync($"/api/networks/{id}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        foreach (var page in new[] { admin, neta, niko })
            await page.Context.CloseAsync();
    }

    private static async Task MakeGroupAsync(IPage admin, string group, string member)
    {
        await admin.GotoAsync("/admin/groups");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("New group name").FillAsync(group);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create group" }).ClickAsync();
        await admin.GetByLabel($"User to add to {group}").FillAsync(member);
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Add to {group}" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Groups" })).ToContainTextAsync(member);
    }

    /// <summary>Through the dialog: a bad interface name is refused next to its field first.</summary>
    private async Task<Guid> MakeProviderNetworkAsync(IPage admin, string name, string group)
    {
        await admin.GotoAsync("/networks");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = "New provider network" }).ClickAsync();
        var dialog = admin.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name").FillAsync(name);
        await dialog.GetByLabel("Host interface").FillAsync("eth9; reboot");
        await dialog.GetByLabel("VLAN").FillAsync("42");
        await dialog.GetByLabel("CIDR (information)").FillAsync("192.0.2.0/24");
        await dialog.GetByLabel("Gateway (information)").FillAsync("192.0.2.1");
        await dialog.GetByLabel("Offered to the groups").ClickAsync();
        var option = admin.GetByRole(AriaRole.Option, new() { Name = group, Exact = true });
        await option.ClickAsync();

        // Escape closes the list; one typed before the list listens is lost (seen under load), so it is typed while the list shows.
        await Eventually.Async(async () =>
        {
            if (!await option.IsVisibleAsync())
            {
                return true;
            }

            await admin.Keyboard.PressAsync("Escape");
            return false;
        }, TimeSpan.FromSeconds(15), "the group list to close", TimeSpan.FromMilliseconds(500));
        await Assertions.Expect(dialog.GetByLabel("Offered to the groups")).ToHaveValueAsync(group);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(dialog).ToContainTextAsync("Host interface: a name such as eth1 or bond0");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "provider-network-bad-interface.png") });
        await dialog.GetByLabel("Host interface").FillAsync("pvnet9");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Dialog)).ToHaveCountAsync(0);
        var listed = (await (await admin.APIRequest.GetAsync("/api/networks")).JsonAsync())!.Value.EnumerateArray();
        return listed.Single(n => n.GetProperty("name").GetString() == name).GetProperty("id").GetGuid();
    }
}
