using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class GroupSharingTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_fellow_group_member_starts_stops_and_opens_the_console_of_a_group_vm_but_cannot_delete_it()
    {
        // The admin puts Quinn into a group.
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/groups");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("New group name").FillAsync("team-x");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create group" }).ClickAsync();
        await AddAsync(admin, PaddockFixture.Quinn);

        // Quinn's VM, shared with the group from its page; Rita, not in the group yet, has her list open.
        var rita = await paddock.SignInAsync(PaddockFixture.Rita);
        var quinn = await paddock.SignInAsync(PaddockFixture.Quinn);
        var vmId = await PaddockFixture.CreateVmAsync(quinn, "team-vm");
        await PaddockFixture.RunningAndIdleAsync(quinn, vmId);
        await quinn.GetByLabel("Shared with group").ClickAsync();
        await quinn.GetByRole(AriaRole.Option, new() { Name = "team-x" }).ClickAsync();
        await Eventually.Async(async () => (await VmApi.GetAsync(quinn, vmId)).GetProperty("groupId").ValueKind == System.Text.Json.JsonValueKind.String,
            TimeSpan.FromSeconds(30), "the VM shared with team-x");
        await Assertions.Expect(rita.GetByRole(AriaRole.Link, new() { Name = "team-vm" })).ToHaveCountAsync(0);

        // The admin adds Rita to the group: her open list shows the group's VM without a reload.
        await AddAsync(admin, PaddockFixture.Rita);
        await Assertions.Expect(rita.GetByRole(AriaRole.Table, new() { Name = "My VMs" }))
            .ToContainTextAsync("by quinn with group team-x", new() { Timeout = 30_000 });

        // Rita uses it: its page, a console ticket and socket, power off and start.
        await rita.GetByRole(AriaRole.Link, new() { Name = "team-vm" }).ClickAsync();
        await PaddockFixture.InteractiveAsync(rita);
        await Assertions.Expect(rita.GetByRole(AriaRole.Heading, new() { Name = "team-vm" })).ToBeVisibleAsync();
        var ticket = await PaddockFixture.ConsoleTicketAsync(rita, vmId, "serial");
        using (var console = await paddock.OpenConsoleAsync(rita, $"/console/{vmId}/serial?ticket={Uri.EscapeDataString(ticket)}", paddock.PortalUrl))
        {
            Assert.NotNull(console);
        }

        Assert.Equal(202, (await rita.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectStatusAsync(rita, "Stopped");
        // The power-off task ends a moment after the status turns Stopped; a start before that is refused as in progress.
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(rita, vmId) == "Stopped", PaddockFixture.Boot, "the power-off to end");
        Assert.Equal(202, (await rita.APIRequest.PostAsync($"/api/vms/{vmId}/start", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.RunningAndIdleAsync(rita, vmId);

        // ... but neither deletes it nor moves it to another group: the owner's word.
        await Assertions.Expect(rita.GetByRole(AriaRole.Button, new() { Name = "Delete" })).ToBeDisabledAsync();
        Assert.Equal(202, (await rita.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectStatusAsync(rita, "Stopped");
        var delete = await rita.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(403, delete.Status);
        Assert.Contains("Only the owner of 'team-vm' or an admin may delete it.", await delete.TextAsync());
        var regroup = await rita.APIRequest.PutAsync($"/api/vms/{vmId}/group",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { groupId = (Guid?)null } });
        Assert.Equal(403, regroup.Status);
        Assert.Contains("Only the owner of 'team-vm' or an admin may change its group.", await regroup.TextAsync());

        // Someone outside the group gets the same answer as for a VM that does not exist.
        var bob = await paddock.SignInAsync(PaddockFixture.Bob);
        Assert.Equal(404, (await bob.APIRequest.GetAsync($"/api/vms/{vmId}")).Status);
        Assert.Equal(404, (await bob.APIRequest.PostAsync($"/api/vms/{vmId}/start", new() { Headers = PaddockFixture.ApiHeaders })).Status);

        // The admin's audit log, filtered by this VM, shows who did what to it.
        await admin.GotoAsync("/admin/audit");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("VM id").FillAsync(vmId.ToString());
        await admin.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        var log = admin.GetByRole(AriaRole.Table, new() { Name = "Audit" });
        await Assertions.Expect(log).ToContainTextAsync("Create 'team-vm'");
        await Assertions.Expect(log.Locator("tbody tr").Filter(new() { HasText = "Power off 'team-vm'" }).First).ToContainTextAsync(PaddockFixture.Rita);

        // The group cannot go while the VM is shared with it; renamed, it keeps its members.
        await admin.GotoAsync("/admin/groups");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Delete group team-x" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Alert)).ToContainTextAsync("'team-x' is still shared with by 1 VM(s)");
        await admin.GetByLabel("New name for team-x").FillAsync("team-y");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Rename team-x" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Groups" })).ToContainTextAsync("team-y");

        Assert.Equal(202, (await quinn.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => (await quinn.APIRequest.GetAsync($"/api/vms/{vmId}")).Status == 404, TimeSpan.FromSeconds(60), "the VM to go");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Delete group team-y" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        // Gone from the list (which is no table at all once the last group is gone).
        await Assertions.Expect(admin.GetByRole(AriaRole.Button, new() { Name = "Delete group team-y" })).ToHaveCountAsync(0);
        foreach (var page in new[] { admin, rita, quinn, bob })
        {
            await page.Context.CloseAsync();
        }
    }

    private static async Task AddAsync(IPage admin, string member)
    {
        await admin.GetByLabel("User to add to team-x").FillAsync(member);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Add to team-x" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Groups" })).ToContainTextAsync(member);
    }
}
