using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed partial class SaveRestoreTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Save_ends_qemu_and_restore_brings_the_guest_back_where_it_was()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Frank);
        var vmId = await PaddockFixture.CreateVmAsync(page, "save-vm");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(runDir);

        var before = Uptime(
            await GuestSerial.RunAsync(runDir, "echo keep-me > /root/marker; echo up-$(cut -d' ' -f1 /proc/uptime)-up; echo done-\"save\"",
                until: "done-save"));
        var pid = int.Parse(File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim());

        // Save: the state goes to a file in the VM's directory and QEMU ends, freeing its memory. Its
        // task shows how far it has got before it ends, pushed to the page.
        var progress = await PageProbes.WatchStatusAsync(page, "Task progress");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Saved");
        Assert.Contains(await progress(), shown => ProgressPattern().IsMatch(shown));
        await Assertions.Expect(page.GetByLabel("Saved state size")).ToContainTextAsync("MiB");
        Assert.True(new FileInfo(Path.Combine(runDir, "state.sav")).Length > 1024 * 1024);
        Assert.False(File.Exists($"/proc/{pid}/status") && !File.ReadAllText($"/proc/{pid}/status").Contains("State:\tZ"), "QEMU ended");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(runDir, "state.sav")));

        // Start is refused with what to do instead; Restore brings the guest back.
        Assert.True(await page.GetByRole(AriaRole.Button, new() { Name = "Restore", Exact = true }).IsEnabledAsync());
        var restoring = await PageProbes.WatchStatusAsync(page, "Task progress");
        await page.GetByRole(AriaRole.Button, new() { Name = "Restore", Exact = true }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        Assert.Contains(await restoring(), shown => ProgressPattern().IsMatch(shown));
        var after = await GuestSerial.RunAsync(runDir, "echo up-$(cut -d' ' -f1 /proc/uptime)-up; cat /root/marker; echo done-\"restore\"",
            until: "done-restore");

        // The guest went on from the moment of the save: its uptime continues (no reboot), its file is there.
        var uptime = Uptime(after);
        Assert.True(uptime >= before && uptime < before + 60, $"uptime {uptime} s after restore, {before} s before save");
        Assert.Contains("keep-me", after);
        Assert.Equal(1, GuestSerial.Banners(Path.Combine(runDir, "serial.log")));
        Assert.False(File.Exists(Path.Combine(runDir, "state.sav")));
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-restored.png") });

        await page.GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.GetByText("The VM has been deleted")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await page.Context.CloseAsync();
    }

    private static double Uptime(string serialOutput) =>
        double.Parse(UptimePattern().Matches(serialOutput).Last().Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\d+ % · [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B")]
    private static partial Regex ProgressPattern();

    [GeneratedRegex(@"up-([0-9.]+)-up")]
    private static partial Regex UptimePattern();
}
