using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed partial class WalkingSkeletonTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_member_creates_a_vm_types_into_its_console_shuts_it_down_restarts_powers_off_and_deletes_it()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Alice);

        // Create: the dialog, then the VM's page goes Creating -> Starting -> Running by itself.
        await PageProbes.MarkAsync(page);
        var statuses = await PageProbes.WatchStatusAsync(page, "Status");
        var vmId = await PaddockFixture.CreateVmAsync(page, "story-vm");
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm.png") });

        // The page showed the statuses in order as they were pushed (how many it caught depends on
        // timing), and the agent reported each of them, as the VM's history shows.
        var seen = await statuses();
        Assert.True(seen.Length >= 2, $"the status changed live on the page: {string.Join(" -> ", seen)}");
        Assert.Equal(seen, seen.OrderBy(s => Array.IndexOf(["Creating", "Starting", "Running"], s)).ToArray());
        Assert.Equal(["Creating", "Starting", "Running"], (await paddock.HistoryOfStatesAsync(vmId)).Take(3));
        await PageProbes.AssertNoReloadAsync(page);

        // QEMU runs under the VM's own uid, inside QEMU's seccomp sandbox.
        var uid = int.Parse(UidText().Match(await page.GetByRole(AriaRole.Table, new() { Name = "Details" }).InnerTextAsync()).Groups[1].Value);
        var pid = int.Parse(File.ReadAllText(Path.Combine(paddock.VmsDir, vmId.ToString(), "qemu", "qemu.pid")).Trim());
        var status = File.ReadAllText($"/proc/{pid}/status");
        Assert.Matches($@"Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}", status);
        Assert.Matches(@"Seccomp:\s+2", status);
        Assert.NotEqual(0, uid);

        // Its run directory is the agent's (0711: the VM passes, never writes), its disk and QEMU's
        // own directory are the VM's (0600/0700); the template's base image it may read, never write.
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        Assert.Equal((UnixFileMode)0x1C9, File.GetUnixFileMode(runDir)); // 0711
        Assert.Equal("0:0", await PaddockFixture.RunAsync("stat", "-c", "%u:%g", runDir));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(runDir, "disk-disk0.qcow2")));
        Assert.Equal($"{uid}:{uid}", await PaddockFixture.RunAsync("stat", "-c", "%u:%g", Path.Combine(runDir, "disk-disk0.qcow2")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(runDir, "qemu")));
        Assert.Equal($"{uid}:{uid}", await PaddockFixture.RunAsync("stat", "-c", "%u:%g", Path.Combine(runDir, "qemu")));
        var baseImage = Path.Combine(paddock.DataDir, "images", "builtin-busybox.qcow2");
        Assert.Equal("readable, not writable", await PaddockFixture.RunAsync(
            "setpriv", "--reuid", $"{uid}", "--regid", $"{uid}", "--clear-groups", "--",
            "sh", "-c", "test -r \"$0\" && ! test -w \"$0\" && echo readable, not writable", baseImage));

        // Console: the VM's screen in the same tab; type a sum, the guest writes the product to its serial port.
        await page.GetByRole(AriaRole.Link, new() { Name = "Console", Exact = true }).ClickAsync();
        await PaddockFixture.LandsOnAsync(page, $"/vms/{vmId}/console$");
        await Expect(page.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        var serialLog = Path.Combine(paddock.VmsDir, vmId.ToString(), "serial.log");
        await Eventually.Async(
            () => File.Exists(serialLog) && SerialText(serialLog).Contains("paddock-template ready"),
            PaddockFixture.Boot, "the guest's shell");
        var canvas = page.Locator("[aria-label='VM screen'] canvas");
        await Eventually.Async(async () => await canvas.EvaluateAsync<bool>("c => c.width > 0 && c.height > 0"), TimeSpan.FromSeconds(30), "the first frame");

        var a = Random.Shared.Next(1000, 9999);
        var b = Random.Shared.Next(1000, 9999);
        await canvas.ClickAsync();
        await PageProbes.TypeLikeAPersonAsync(page, $"echo $(({a}*{b})) > /dev/ttyS0\n");
        var product = ((long)a * b).ToString();
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "console-typed.png") });
        // The product, not the typed text: the guest's shell computed it. (The serial shell's
        // prompt leaves a cursor query, ESC[6n, right before it on the same line.)
        await Eventually.Async(
            () => Regex.IsMatch(SerialText(serialLog), $@"(?<!\d){product}(?!\d)"),
            TimeSpan.FromSeconds(60), $"{product} on the serial port");
        Assert.DoesNotContain($"{a}*{b}", SerialText(serialLog));
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "console.png") });
        await PageProbes.AssertNoReloadAsync(page);

        // Shutdown asks the guest (ACPI); the status turns Stopped by itself.
        await page.GetByRole(AriaRole.Link, new() { Name = "Back to the VM" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Shutdown" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        await Eventually.Async(
            () => !File.Exists($"/proc/{pid}/status") || File.ReadAllText($"/proc/{pid}/status").Contains("State:\tZ"),
            TimeSpan.FromSeconds(10), "QEMU to exit");

        // Start again, then power off (after a confirmation).
        await page.GetByRole(AriaRole.Button, new() { Name = "Start" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        // Running shows a moment before the Start task ends; Power off asked in between is refused as in progress.
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vmId) == "Running", PaddockFixture.Boot, "the Start task to end");
        await page.GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        var confirm = page.GetByRole(AriaRole.Dialog);
        await confirm.GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await Expect(confirm).ToHaveCountAsync(0);
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-powering-off.png") });
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");

        // Delete after a confirmation: its files are gone from the host.
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Expect(page.GetByText("The VM has been deleted")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        Assert.False(Directory.Exists(Path.Combine(paddock.VmsDir, vmId.ToString())));
        await PageProbes.AssertNoReloadAsync(page);
        await page.Context.CloseAsync();
    }

    private static string SerialText(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    [GeneratedRegex(@"uid (\d+)")]
    private static partial Regex UidText();
}
