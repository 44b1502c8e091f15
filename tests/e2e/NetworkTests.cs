using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Tenant networks in the portal: the Networks page and its API (field errors, overlaps, delete
/// refused while NICs are attached), addresses of VMs on the default network, the wall between
/// tenants and the network quota. What hosts do with the networks is the agent's side.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class NetworkTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Networks_are_made_edited_and_deleted_on_their_page_with_refusals_next_to_the_field()
    {
        var neta = await paddock.SignInAsync(PaddockFixture.Neta);
        var name = $"lab-{Guid.NewGuid():N}"[..10];
        await neta.GetByRole(AriaRole.Link, new() { Name = "Networks" }).ClickAsync();
        await neta.GetByRole(AriaRole.Heading, new() { Name = "Networks" }).WaitForAsync();

        // A CIDR with host bits set is refused next to the field, with the network it meant.
        await neta.GetByRole(AriaRole.Button, new() { Name = "New network" }).ClickAsync();
        var dialog = neta.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name").FillAsync(name);
        await dialog.GetByLabel("CIDR").FillAsync("10.77.0.5/24");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(dialog).ToContainTextAsync("CIDR: 10.77.0.5/24 is not a network address (its host part is not zero); did you mean 10.77.0.0/24?");
        await neta.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "network-bad-cidr.png") });
        await dialog.GetByLabel("CIDR").FillAsync("10.77.0.0/24");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        var row = neta.GetByRole(AriaRole.Row, new() { Name = $"Network {name}", Exact = true });
        await Assertions.Expect(row).ToContainTextAsync("10.77.0.0/24 10.77.0.1 on neta 0");

        // One that overlaps it is refused with the reason.
        await neta.GetByRole(AriaRole.Button, new() { Name = "New network" }).ClickAsync();
        await dialog.GetByLabel("Name").FillAsync($"{name}-wide");
        await dialog.GetByLabel("CIDR").FillAsync("10.77.0.0/16");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(dialog).ToContainTextAsync($"CIDR: 10.77.0.0/16 overlaps your network '{name}' (10.77.0.0/24).");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();

        // Edit: a new name, NAT off; the row says who changed it.
        await neta.GetByRole(AriaRole.Button, new() { Name = $"Edit {name}" }).ClickAsync();
        await Assertions.Expect(dialog.GetByLabel("Name")).ToHaveValueAsync(name);
        await PaddockFixture.FillExactlyAsync(dialog.GetByLabel("Name"), $"{name}-b");
        await dialog.GetByLabel("NAT to the outside").UncheckAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        row = neta.GetByRole(AriaRole.Row, new() { Name = $"Network {name}-b", Exact = true });
        await Assertions.Expect(row).ToContainTextAsync("10.77.0.0/24 10.77.0.1 off");
        await Assertions.Expect(row).ToContainTextAsync("changed by neta");
        await neta.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "networks-page.png"), FullPage = true });

        // Delete, after a confirmation.
        await neta.GetByRole(AriaRole.Button, new() { Name = $"Delete network {name}-b" }).ClickAsync();
        await neta.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(row).ToHaveCountAsync(0);
        await neta.Context.CloseAsync();
    }

    [Fact]
    public async Task A_vm_on_the_default_network_gets_an_address_shown_on_its_page_and_in_the_list_and_holds_the_network()
    {
        var neta = await paddock.SignInAsync(PaddockFixture.Neta);
        var vmName = $"net-{Guid.NewGuid():N}"[..10];
        var vmId = await CreateWithTwoNicsAsync(neta, vmName);

        // Its page shows each NIC's network, MAC and address; the list shows each NIC's MAC and address.
        await Assertions.Expect(neta.GetByLabel("Network of net1")).ToHaveTextAsync("isolated (internet only)");
        var address = neta.GetByLabel("IP of net0");
        await Assertions.Expect(address).ToHaveTextAsync(Ipv4());
        var ip = await address.InnerTextAsync();
        await Assertions.Expect(neta.GetByLabel("Network of net0")).ToHaveTextAsync(new Regex(@"^default \(10\.\d+\.0\.0/16\)$"));
        var vm = await VmApi.GetAsync(neta, vmId);
        Assert.Equal(ip, vm.GetProperty("address").GetString());
        await Assertions.Expect(neta.GetByLabel("MAC of net0")).ToHaveTextAsync(vm.GetProperty("mac").GetString()!);
        await neta.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "network-vm-page.png"), FullPage = true });
        var mac1 = (await VmApi.GetAsync(neta, vmId)).GetProperty("nics")[1].GetProperty("mac").GetString();
        await neta.GotoAsync("/");
        await Assertions.Expect(neta.GetByLabel($"net0 of {vmName}")).ToHaveTextAsync($"{vm.GetProperty("mac").GetString()} {ip}");
        await Assertions.Expect(neta.GetByLabel($"net1 of {vmName}")).ToHaveTextAsync($"{mac1} isolated");
        await neta.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "network-my-vms.png"), FullPage = true });

        // A second VM shares the default network with its own address; an isolated NIC has none.
        var defaultId = vm.GetProperty("nics")[0].GetProperty("networkId").GetGuid();
        var second = await CreateAsync(neta, $"{vmName}-2", new { networkId = defaultId }, new { isolated = true });
        var nics = (await VmApi.GetAsync(neta, second)).GetProperty("nics");
        Assert.Equal(defaultId, nics[0].GetProperty("networkId").GetGuid());
        Assert.NotEqual(ip, nics[0].GetProperty("address").GetString());
        Assert.Equal(JsonValueKind.Null, nics[1].GetProperty("address").ValueKind);

        // The network cannot go while NICs are on it: the refusal names the VMs, in the API and on the page.
        var refused = await neta.APIRequest.DeleteAsync($"/api/networks/{defaultId}", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(409, refused.Status);
        Assert.Contains($"VMs '{vmName}', '{vmName}-2'", await refused.TextAsync());
        await neta.GotoAsync("/networks");
        await PaddockFixture.InteractiveAsync(neta);
        await Assertions.Expect(neta.GetByLabel("NICs on default")).ToContainTextAsync($"{vmName} {ip}");
        await neta.GetByRole(AriaRole.Button, new() { Name = "Delete network default" }).ClickAsync();
        await neta.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(neta.GetByRole(AriaRole.Alert).Filter(new() { HasText = "has NICs attached" }))
            .ToContainTextAsync($"Network 'default' has NICs attached: VMs '{vmName}', '{vmName}-2'.");
        await neta.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "network-delete-refused.png"), FullPage = true });

        // The VMs gone, their addresses are free and the network can go.
        await VmApi.DeleteAsync(neta, vmId);
        await VmApi.DeleteAsync(neta, second);
        var network = await (await neta.APIRequest.GetAsync($"/api/networks/{defaultId}")).JsonAsync();
        Assert.Equal(0, network!.Value.GetProperty("nics").GetArrayLength());
        Assert.Equal(204, (await neta.APIRequest.DeleteAsync($"/api/networks/{defaultId}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await neta.Context.CloseAsync();
    }

    [Fact]
    public async Task Another_member_gets_for_your_network_what_a_random_id_gets()
    {
        var neta = await paddock.SignInAsync(PaddockFixture.Neta);
        var niko = await paddock.SignInAsync(PaddockFixture.Niko);
        var secret = $"neta-secret-{Guid.NewGuid():N}"[..20];
        var id = await CreateNetworkAsync(neta, secret, "10.78.0.0/24");
        var random = Guid.NewGuid();

        foreach (var (method, body) in new (string, object?)[] { ("GET", null), ("PUT", new { name = "niko-was-here", nat = false }), ("DELETE", null) })
        {
            var foreign = await AnswerAsync(niko, method, $"/api/networks/{id}", body);
            var none = await AnswerAsync(niko, method, $"/api/networks/{random}", body);
            Assert.StartsWith("404 ", foreign);
            Assert.Equal(none.Replace(random.ToString(), "{id}"), foreign.Replace(id.ToString(), "{id}"));
            Assert.DoesNotContain(secret, foreign);
        }

        // Nor can a VM of Niko's have a NIC on it.
        var onForeign = await niko.APIRequest.PostAsync("/api/vms", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { name = "niko-vm", vCpus = 1, memoryMiB = 128, start = false, nics = new[] { new { networkId = id } } },
        });
        Assert.Equal(422, onForeign.Status);
        Assert.Contains("Network: no such network.", await onForeign.TextAsync());
        Assert.DoesNotContain(secret, await (await niko.APIRequest.GetAsync("/api/networks")).TextAsync());

        // Untouched.
        var mine = (await (await neta.APIRequest.GetAsync($"/api/networks/{id}")).JsonAsync())!.Value;
        Assert.Equal(secret, mine.GetProperty("name").GetString());
        Assert.True(mine.GetProperty("nat").GetBoolean());
        Assert.Equal(204, (await neta.APIRequest.DeleteAsync($"/api/networks/{id}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await neta.Context.CloseAsync();
        await niko.Context.CloseAsync();
    }

    [Fact]
    public async Task Networks_beyond_the_quota_are_refused_with_the_reason_even_when_asked_for_at_once()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var quota = await admin.APIRequest.PutAsync($"/api/quotas/users/{PaddockFixture.Nuri}", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { limits = new { vms = 10, vCpus = 20, memoryMiB = 32768, diskMiB = 512000, networks = 2 } },
        });
        Assert.True(quota.Status == 200, await quota.TextAsync());
        var nuri = await paddock.SignInAsync(PaddockFixture.Nuri);

        // Bad input is a 422 naming the field.
        var bad = await nuri.APIRequest.PostAsync("/api/networks", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "x", cidr = "10.0.0.0/8" } });
        Assert.Equal(422, bad.Status);
        Assert.Contains("CIDR: the prefix must be /16 to /29; /8 is not.", (await bad.JsonAsync())!.Value.GetProperty("errors").GetProperty("cidr")[0].GetString());

        // Six at once against a quota of two: exactly two are made.
        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => nuri.APIRequest.PostAsync("/api/networks",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = $"q{i}", cidr = $"10.{90 + i}.0.0/24" } })));
        Assert.Equal(2, answers.Count(a => a.Status == 201));
        foreach (var refusal in answers.Where(a => a.Status != 201))
        {
            Assert.Equal(409, refusal.Status);
            Assert.Contains("Over quota: networks: you have 2 of 2 (your default network not counted)", await refusal.TextAsync());
        }

        // The page says the same in the dialog.
        await nuri.GotoAsync("/networks");
        await PaddockFixture.InteractiveAsync(nuri);
        await Assertions.Expect(nuri.GetByLabel("Network quota")).ToContainTextAsync("Networks: 2 of 2");
        await nuri.GetByRole(AriaRole.Button, new() { Name = "New network" }).ClickAsync();
        var dialog = nuri.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name").FillAsync("one-more");
        await dialog.GetByLabel("CIDR").FillAsync("10.99.0.0/24");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(dialog.GetByRole(AriaRole.Alert)).ToContainTextAsync("Over quota: networks: you have 2 of 2");
        await nuri.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "network-quota.png") });
        await admin.Context.CloseAsync();
        await nuri.Context.CloseAsync();
    }

    /// <summary>
    /// New VM, from the dialog, with two NICs: NIC 2 is added, removed and added again; at the limit
    /// Add NIC is disabled and says why; a network gone before Create is refused next to its NIC.
    /// NIC 1 stays on the default network, NIC 2 goes isolated. Returns the VM's id, on its page.
    /// </summary>
    private async Task<Guid> CreateWithTwoNicsAsync(IPage page, string name)
    {
        var gone = $"{name}-gone";
        var goneId = await CreateNetworkAsync(page, gone, "10.79.0.0/24");
        await page.GetByRole(AriaRole.Button, new() { Name = "New VM" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name").FillAsync(name);
        var add = dialog.GetByRole(AriaRole.Button, new() { Name = "Add NIC" });
        await add.ClickAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Remove NIC 2" }).ClickAsync();
        await Assertions.Expect(dialog.GetByLabel("Network of NIC 2")).ToHaveCountAsync(0);
        await add.ClickAsync();
        await dialog.GetByLabel("Network of NIC 2").ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = $"{gone} (10.79.0.0/24)" }).ClickAsync();
        await Assertions.Expect(add).ToBeDisabledAsync();
        await add.HoverAsync(new() { Force = true });
        await Assertions.Expect(page.GetByText("A VM has at most 2 NICs.")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "new-vm-two-nics.png") });

        Assert.Equal(204, (await page.APIRequest.DeleteAsync($"/api/networks/{goneId}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(dialog).ToContainTextAsync("Network: no such network.");
        await Assertions.Expect(dialog.GetByLabel("Network of NIC 2")).ToHaveAttributeAsync("aria-invalid", "true");
        await Assertions.Expect(dialog.GetByLabel("Network of NIC 1")).ToHaveAttributeAsync("aria-invalid", "false");
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "new-vm-nic-refused.png") });
        await dialog.GetByLabel("Network of NIC 2").ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "Isolated (internet only)" }).ClickAsync();
        // The refusal goes once the dialog has the new choice: only then may Create read it (a busy machine once sent the old one).
        await Assertions.Expect(dialog.GetByLabel("Network of NIC 2")).ToHaveAttributeAsync("aria-invalid", "false");
        return await PaddockFixture.SubmitCreateAsync(page, name);
    }

    private static async Task<Guid> CreateNetworkAsync(IPage page, string name, string cidr)
    {
        var created = await page.APIRequest.PostAsync("/api/networks", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, cidr } });
        Assert.True(created.Status == 201, await created.TextAsync());
        return (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
    }

    /// <summary>A stopped VM whose NICs go where <paramref name="nics"/> say.</summary>
    private static async Task<Guid> CreateAsync(IPage page, string name, params object[] nics)
    {
        var created = await page.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, vCpus = 1, memoryMiB = 128, start = false, nics } });
        Assert.True(created.Status == 201, await created.TextAsync());
        return (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
    }

    private static async Task<string> AnswerAsync(IPage page, string method, string path, object? body)
    {
        var options = new APIRequestContextOptions { Method = method, Headers = PaddockFixture.ApiHeaders };
        if (body is not null)
        {
            options.DataObject = body;
        }

        var response = await page.APIRequest.FetchAsync(path, options);
        return $"{response.Status} {Regex.Replace(await response.TextAsync(), "\"traceId\":\"[^\"]*\"", "")}";
    }

    [GeneratedRegex(@"^10\.\d+\.\d+\.\d+$")]
    private static partial Regex Ipv4();
}
