using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>Flavors, the custom-size policy, longest leases and group quotas, as an admin sets them and a member meets them.</summary>
[Collection(PaddockCollection.Name)]
public sealed class FlavorTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_flavor_that_needs_approval_and_caps_the_lease_turns_a_create_into_a_request()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var flavor = $"gated-{Guid.NewGuid().ToString("N")[..4]}";
        await admin.GotoAsync("/admin/flavors");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("Flavor name").FillAsync(flavor);
        await admin.GetByLabel("Flavor memory (MiB)").FillAsync("256");
        await admin.GetByLabel("Flavor disk (MiB)").FillAsync("512");
        await admin.GetByLabel("Longest lease (hours)").FillAsync("1");
        await admin.GetByRole(AriaRole.Checkbox, new() { Name = "Needs approval: a member's VM of this flavor becomes a request" }).CheckAsync();
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create flavor" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Flavors" }))
            .ToContainTextAsync($"{flavor} 1 vCPU, 256 MiB, 512 MiB disk none everyone needs approval 1 hour");

        // The member picks it: the dialog says why it needs approval and offers the request.
        var zoe = await paddock.SignInAsync(PaddockFixture.Zoe);
        await zoe.GetByRole(AriaRole.Button, new() { Name = "New VM" }).ClickAsync();
        var dialog = zoe.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name").FillAsync("zoe-gated");
        await dialog.GetByLabel("Size").ClickAsync();
        await zoe.GetByRole(AriaRole.Option, new() { Name = $"{flavor}: 1 vCPU, 256 MiB, 512 MiB disk (needs approval)" }).ClickAsync();
        await Assertions.Expect(dialog.GetByLabel("Memory (MiB)")).ToHaveValueAsync("256");
        await Assertions.Expect(dialog.GetByLabel("Memory (MiB)")).ToBeDisabledAsync();
        await dialog.GetByLabel("Lease").ClickAsync();
        await zoe.GetByRole(AriaRole.Option, new() { Name = "1 day" }).ClickAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        await Assertions.Expect(dialog)
            .ToContainTextAsync($"Flavor '{flavor}' needs an admin's approval. Lease: 1 day asked, at most 1 hour for flavor '{flavor}'.");
        await dialog.GetByLabel("Justification").FillAsync("A demo tomorrow.");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Submit as request" }).ClickAsync();
        await PaddockFixture.LandsOnAsync(zoe, "/requests/[0-9a-f-]{36}$");
        await PaddockFixture.InteractiveAsync(zoe);
        await Assertions.Expect(zoe.GetByRole(AriaRole.Status).First).ToHaveTextAsync("Pending");
        await zoe.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "request-pending.png") });

        // The API gives the same reasons as problem details.
        var flavors = (await (await zoe.APIRequest.GetAsync("/api/flavors")).JsonAsync())!.Value;
        var flavorId = flavors.EnumerateArray().Single(f => f.GetProperty("name").GetString() == flavor).GetProperty("id").GetGuid();
        var refused = await zoe.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "zoe-api", vCpus = 1, memoryMiB = 256, flavorId } });
        Assert.Equal(409, refused.Status);
        Assert.Contains($"Flavor '{flavor}' needs an admin's approval.", (await refused.JsonAsync())!.Value.GetProperty("reasons")[0].GetString());
        Assert.Equal(0, (await (await zoe.APIRequest.GetAsync("/api/vms")).JsonAsync())!.Value.GetArrayLength());

        // Withdrawn by the requester, it leaves the queue.
        await zoe.GetByRole(AriaRole.Button, new() { Name = "Withdraw" }).ClickAsync();
        await zoe.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Withdraw" }).ClickAsync();
        await Assertions.Expect(zoe.GetByRole(AriaRole.Status).First).ToHaveTextAsync("Withdrawn");

        await admin.GetByRole(AriaRole.Button, new() { Name = $"Delete flavor {flavor}" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Main)).Not.ToContainTextAsync(flavor);
        await admin.Context.CloseAsync();
        await zoe.Context.CloseAsync();
    }

    [Fact]
    public async Task Without_custom_sizes_a_member_must_pick_a_flavor_and_a_group_quota_holds_beside_the_own()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var zoe = await paddock.SignInAsync(PaddockFixture.Zoe);
        try
        {
            // The policy, from the Quotas page.
            await admin.GotoAsync("/admin/quotas");
            await PaddockFixture.InteractiveAsync(admin);
            await admin.GetByLabel("Members may choose sizes of their own").UncheckAsync();
            await admin.GetByRole(AriaRole.Button, new() { Name = "Save policy" }).ClickAsync();
            await Eventually.Async(
                async () => !(await (await admin.APIRequest.GetAsync("/api/policy")).JsonAsync())!.Value.GetProperty("customSizes").GetBoolean(),
                TimeSpan.FromSeconds(10), "the policy saved");
            var custom = await zoe.APIRequest.PostAsync("/api/vms",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "zoe-custom", vCpus = 1, memoryMiB = 256 } });
            Assert.Equal(422, custom.Status);
            Assert.Contains("Flavor: choose one of the flavors", await custom.TextAsync());
        }
        finally
        {
            Assert.Equal(200,
                (await admin.APIRequest.PutAsync("/api/policy",
                    new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { customSizes = true } })).Status);
        }

        // A group with room for no VM: Zoe's VM in it is refused for the group, though her own quota has room.
        var group = $"lab-{Guid.NewGuid().ToString("N")[..4]}";
        await admin.GotoAsync("/admin/groups");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("New group name").FillAsync(group);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create group" }).ClickAsync();
        await admin.GetByLabel($"User to add to {group}").FillAsync(PaddockFixture.Zoe);
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Add to {group}" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Groups" })).ToContainTextAsync(PaddockFixture.Zoe);
        var set = await admin.APIRequest.PutAsync($"/api/quotas/groups/{group}",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { limits = new { vms = 0 } } });
        Assert.True(set.Status == 200, await set.TextAsync());
        var groupId = (await set.JsonAsync())!.Value.GetProperty("id").GetGuid();

        var refused = await zoe.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "zoe-lab", vCpus = 1, memoryMiB = 256, groupId } });
        Assert.Equal(409, refused.Status);
        Assert.Contains($"VMs of group '{group}': requested 1 VM, in use 0 of 0 VMs", await refused.TextAsync());
        Assert.Equal(0, (await (await zoe.APIRequest.GetAsync("/api/vms")).JsonAsync())!.Value.GetArrayLength());

        // A flavor that needs KVM: here every host runs TCG, so nothing can take it, and the member reads why.
        var kvm = $"kvm-{Guid.NewGuid().ToString("N")[..4]}";
        await admin.GotoAsync("/admin/flavors");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("Flavor name").FillAsync(kvm);
        await admin.GetByLabel("Flavor memory (MiB)").FillAsync("256");
        await admin.GetByLabel("Flavor disk (MiB)").FillAsync("256");
        await admin.GetByLabel("Needs the accelerator").ClickAsync();
        await admin.GetByRole(AriaRole.Option, new() { Name = "KVM" }).ClickAsync();
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create flavor" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Flavors" })).ToContainTextAsync(kvm);
        var kvmId = (await (await zoe.APIRequest.GetAsync("/api/flavors")).JsonAsync())!.Value.EnumerateArray()
            .Single(f => f.GetProperty("name").GetString() == kvm).GetProperty("id").GetGuid();
        var noKvm = await zoe.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "zoe-kvm", vCpus = 1, memoryMiB = 256, flavorId = kvmId } });
        Assert.Equal(409, noKvm.Status);
        Assert.Equal("No host with kvm can take a VM right now.", (await noKvm.JsonAsync())!.Value.GetProperty("title").GetString());
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Delete flavor {kvm}" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();

        // The Quotas page shows the group's limit beside its usage.
        await admin.GotoAsync("/admin/quotas");
        await PaddockFixture.InteractiveAsync(admin);
        await Assertions.Expect(admin.GetByRole(AriaRole.Row, new() { Name = $"Quota of {group}" })).ToContainTextAsync("0 of 0 VMs");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "quotas-page.png"), FullPage = true });
        await admin.Context.CloseAsync();
        await zoe.Context.CloseAsync();
    }
}
