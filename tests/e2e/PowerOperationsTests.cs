using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>Each power operation with its effect inside the guest, seen through the guest's serial port.</summary>
[Collection(PaddockCollection.Name)]
public sealed class PowerOperationsTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Pause_resume_reboot_shutdown_timeout_power_off_interrupting_shutdown_and_crash_restart_act_on_the_guest()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Dave);
        var vmId = await PaddockFixture.CreateVmAsync(page, "ops-vm");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        var serialLog = Path.Combine(runDir, "serial.log");
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await Eventually.Async(() => GuestSerial.Banners(serialLog) == 1, PaddockFixture.Boot, "the guest's shell");

        // Pause: a counter the guest writes to its serial port stops; Resume: it goes on.
        await GuestSerial.StartCounterAsync(runDir);
        await Eventually.Async(() => GuestSerial.LastTick(serialLog) > 2, TimeSpan.FromSeconds(30), "the counter to run");
        await ClickAsync(page, "Pause");
        await PaddockFixture.ExpectStatusAsync(page, "Paused");
        var frozen = GuestSerial.LastTick(serialLog);
        await Task.Delay(TimeSpan.FromSeconds(2)); // an absence can only be seen over time
        Assert.Equal(frozen, GuestSerial.LastTick(serialLog));
        await ClickAsync(page, "Resume");
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await Eventually.Async(() => GuestSerial.LastTick(serialLog) > frozen + 2, TimeSpan.FromSeconds(30), "the counter to go on");
        await PaddockFixture.ExpectTaskAsync(page, "Pause", "Done");
        await PaddockFixture.ExpectTaskAsync(page, "Resume", "Done");

        // Reboot asks the guest (Ctrl-Alt-Del); the boot banner shows again.
        await ClickAsync(page, "Reboot");
        await Eventually.Async(() => GuestSerial.Banners(serialLog) == 2, PaddockFixture.Boot, "the guest to boot again");
        await PaddockFixture.ExpectTaskAsync(page, "Reboot", "Done");

        // Send keys from the console's menu reach the guest: Ctrl-Alt-Del makes its init reboot.
        await page.GetByRole(AriaRole.Link, new() { Name = "Console", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        await page.GetByRole(AriaRole.Button, new() { Name = "Send keys" }).ClickAsync();
        await page.GetByRole(AriaRole.Menuitem, new() { Name = "Ctrl-Alt-Del" }).ClickAsync();
        await Eventually.Async(() => GuestSerial.Banners(serialLog) == 3, PaddockFixture.Boot, "the guest to boot after Ctrl-Alt-Del");
        await page.GetByRole(AriaRole.Link, new() { Name = "Back to the VM" }).ClickAsync();
        await PaddockFixture.ExpectTaskAsync(page, "Send keys", "Done");

        // A guest that ignores ACPI is powered off after the VM's (shortened) shutdown timeout.
        await SaveSettingsAsync(page, shutdownTimeout: 3, restartOnCrash: false);
        await GuestSerial.TypeAsync(runDir, "killall acpid");
        await Eventually.Async(
            async () => !(await GuestSerial.RunAsync(runDir, "pidof acpid >/dev/null && echo acpid-\"running\"; echo done-\"pidof\""))
                .Contains("acpid-running"),
            TimeSpan.FromSeconds(10), "acpid gone");
        await ClickAsync(page, "Shutdown");
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        await PaddockFixture.ExpectTaskAsync(page, "Shutdown", "did not power off within 3 s");

        // Power off interrupts a Shutdown in progress.
        await SaveSettingsAsync(page, shutdownTimeout: 600, restartOnCrash: false);
        await ClickAsync(page, "Start");
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await Eventually.Async(() => GuestSerial.Banners(serialLog) == 4, PaddockFixture.Boot, "the guest's shell");
        await GuestSerial.TypeAsync(runDir, "killall acpid");
        await ClickAsync(page, "Shutdown");
        await PaddockFixture.ExpectStatusAsync(page, "Shutting down");
        await ClickAsync(page, "Power off");
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        await PaddockFixture.ExpectTaskAsync(page, "Shutdown", "Interrupted by Power off or Reset");

        // QEMU killed from outside: Crashed, then running again under the restart-on-crash policy.
        await SaveSettingsAsync(page, shutdownTimeout: 60, restartOnCrash: true);
        await ClickAsync(page, "Start");
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        var pid = int.Parse(File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim());
        var killedAt = DateTimeOffset.UtcNow;
        using (var kill = System.Diagnostics.Process.Start("kill", ["-KILL", pid.ToString()]))
        {
            await kill.WaitForExitAsync();
        }

        await Eventually.Async(async () => (await paddock.HistoryOfStatesAsync(vmId)).Contains("Crashed"), TimeSpan.FromSeconds(10), "the crash to be noticed");
        var noticed = await paddock.FirstObservedAtAsync(vmId, "Crashed");
        Assert.True(noticed - killedAt < TimeSpan.FromSeconds(2), $"the crash was noticed after {(noticed - killedAt).TotalMilliseconds:0} ms");
        await Eventually.Async(
            () => File.Exists(Path.Combine(runDir, "qemu", "qemu.pid")) && File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim() != pid.ToString(),
            PaddockFixture.Boot, "QEMU to be restarted");
        await PaddockFixture.ExpectStatusAsync(page, "Running");

        // Without the policy the VM stays Crashed and says how QEMU ended.
        await SaveSettingsAsync(page, shutdownTimeout: 60, restartOnCrash: false);
        var second = int.Parse(File.ReadAllText(Path.Combine(runDir, "qemu", "qemu.pid")).Trim());
        using (var kill = System.Diagnostics.Process.Start("kill", ["-KILL", second.ToString()]))
        {
            await kill.WaitForExitAsync();
        }

        await PaddockFixture.ExpectStatusAsync(page, "Crashed");
        await Assertions.Expect(page.GetByText("QEMU ended unexpectedly (killed by signal 9)")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-crashed.png") });

        await ClickAsync(page, "Delete");
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.GetByText("The VM has been deleted")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await page.Context.CloseAsync();
    }

    private static async Task ClickAsync(IPage page, string button) =>
        await page.GetByRole(AriaRole.Button, new() { Name = button, Exact = true }).ClickAsync();

    private static async Task SaveSettingsAsync(IPage page, int shutdownTimeout, bool restartOnCrash)
    {
        await page.GetByLabel("Shutdown timeout (s)").FillAsync(shutdownTimeout.ToString());
        await page.GetByLabel("Restart after a crash").ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = restartOnCrash ? "On crash" : "Never", Exact = true }).ClickAsync();
        // The newest Configure row must be this one's, not the one before it.
        var configures = page.GetByRole(AriaRole.Table, new() { Name = "Tasks" }).GetByRole(AriaRole.Row)
            .Filter(new() { Has = page.GetByRole(AriaRole.Cell, new() { Name = "Configure", Exact = true }) });
        var before = await configures.CountAsync();
        await ClickAsync(page, "Save settings");
        await Assertions.Expect(configures).ToHaveCountAsync(before + 1);
        await PaddockFixture.ExpectTaskAsync(page, "Configure", "Done");
    }

}
