using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// The Migrate dialog as admins see it. No VM is moved here: the agents cannot migrate yet, so the
/// dialog is only opened, and Migrate pressed only where no other host could take the VM.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class MigrateDialogTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Only_admins_see_migrate_and_its_dialog_offers_placement_or_a_host_and_says_what_happens()
    {
        var (carol, vmId) = await paddock.CarolsRunningVmAsync();
        await PaddockFixture.RunningAndIdleAsync(carol, vmId);
        await Assertions.Expect(carol.GetByRole(AriaRole.Button, new() { Name = "Start" })).ToBeVisibleAsync();
        Assert.Equal(0, await carol.GetByRole(AriaRole.Button, new() { Name = "Migrate" }).CountAsync());

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Migrate" }).ClickAsync();
        var dialog = admin.GetByRole(AriaRole.Dialog);
        await Assertions.Expect(dialog.GetByLabel("Destination")).ToBeEnabledAsync();
        await Assertions.Expect(dialog).ToContainTextAsync("while it keeps running");
        await Assertions.Expect(dialog).ToContainTextAsync("Open consoles reconnect by themselves");
        // The field's text, whether the select shows it as text or as an input's value.
        Assert.Contains("Let placement choose", await dialog.EvaluateAsync<string>(
            "d => d.innerText + ' ' + [...d.querySelectorAll('input')].map(i => i.value).join(' ')"));
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "migrate-dialog.png") });

        // With no other host up, placement finds nowhere to go, and the dialog says so beside the field.
        if (await paddock.ConnectedHostsAsync() == 1)
        {
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Migrate" }).ClickAsync();
            await Assertions.Expect(dialog).ToContainTextAsync(new Regex("No (other )?host"));
            await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "migrate-refused.png") });
        }

        await dialog.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Status, new() { Name = "Status" })).ToHaveTextAsync("Running");
        Assert.Equal(0, await admin.GetByRole(AriaRole.Region, new() { Name = "Migration" }).CountAsync());
        await admin.Context.CloseAsync();
    }
}
