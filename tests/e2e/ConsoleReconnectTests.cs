using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class ConsoleReconnectTests(PaddockFixture paddock) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>After each test, even a failed one: the agent it killed runs again for the tests that follow.</summary>
    public Task DisposeAsync() => paddock.EnsureAgentAsync();

    /// <summary>This test's own member, made here with the portal's command line: nobody else signs in as her.</summary>
    private const string Rhea = "rhea";

    [Fact]
    public async Task Both_console_pages_reconnect_by_themselves_when_the_host_agent_is_killed_and_restarted_and_stay_open_through_a_reset()
    {
        var page = await SignInAsync();
        var vmId = await VmApi.CreateRunningAsync(page, "rhea-console");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await GuestSerial.WaitForShellAsync(runDir);

        // The screen in one tab, the serial port in another, both open and watched from now on.
        await page.GotoAsync($"/vms/{vmId}/console");
        await PaddockFixture.InteractiveAsync(page);
        var screenState = page.GetByRole(AriaRole.Status, new() { Name = "Console state" });
        await Assertions.Expect(screenState).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        var serial = await page.Context.NewPageAsync();
        await serial.GotoAsync($"/vms/{vmId}/serial");
        await PaddockFixture.InteractiveAsync(serial);
        var serialState = serial.GetByRole(AriaRole.Status, new() { Name = "Serial state" });
        await Assertions.Expect(serialState).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        var screenStates = await PageProbes.WatchStatusAsync(page, "Console state");
        var serialStates = await PageProbes.WatchStatusAsync(serial, "Serial state");
        await PageProbes.MarkAsync(page);
        await PageProbes.MarkAsync(serial);

        // The agent's death closes both sockets; the pages dial again with new tickets until the new agent answers.
        await paddock.KillAndRestartAgentAsync();
        await Assertions.Expect(screenState).ToHaveTextAsync("Reconnected", new() { Timeout = 60_000 });
        await Assertions.Expect(serialState).ToHaveTextAsync("Reconnected", new() { Timeout = 60_000 });
        Assert.Equal(["Connected", "Reconnecting…", "Reconnected"], await screenStates());
        Assert.Equal(["Connected", "Reconnecting…", "Reconnected"], await serialStates());
        Assert.Empty(await page.GetByTestId("console-refusal").AllAsync());

        // The screen takes keys again: the guest writes the product to its serial port, which the
        // serial page shows, in the same terminal as before.
        await page.BringToFrontAsync();
        var canvas = page.Locator("[aria-label='VM screen'] canvas");
        await Eventually.Async(async () => await canvas.EvaluateAsync<bool>("c => c.width > 0 && c.height > 0"), TimeSpan.FromSeconds(30), "a frame after the reconnect");
        var (a, b) = (Random.Shared.Next(1000, 9999), Random.Shared.Next(1000, 9999));
        await canvas.ClickAsync();
        await PageProbes.TypeLikeAPersonAsync(page, $"echo screen-$(({a}*{b})) > /dev/ttyS0\n");
        var terminal = serial.GetByRole(AriaRole.Application, new() { Name = "Serial terminal" });
        await Assertions.Expect(terminal).ToContainTextAsync($"screen-{(long)a * b}", new() { Timeout = 60_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "console-reconnected.png") });

        // The serial terminal takes keys again too.
        await serial.BringToFrontAsync();
        await terminal.ClickAsync();
        await serial.Keyboard.TypeAsync($"echo serial-$(({b}*{a}))", new() { Delay = 20 });
        await serial.Keyboard.PressAsync("Enter");
        await Assertions.Expect(terminal).ToContainTextAsync(new Regex($@"serial-{(long)a * b}(?!\d)"), new() { Timeout = 30_000 });
        await serial.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "serial-reconnected.png") });

        // A Reset keeps QEMU and its VNC server: both consoles stay open through the reboot, and the screen takes keys after it.
        var reset = await page.APIRequest.PostAsync($"/api/vms/{vmId}/reset", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(202, reset.Status);
        await GuestSerial.WaitForShellAsync(runDir, count: 2, what: "the guest's shell after the reset");
        await page.BringToFrontAsync();
        await canvas.ClickAsync();
        await PageProbes.TypeLikeAPersonAsync(page, $"echo reset-$(({a}*{b}*2)) > /dev/ttyS0\n");
        await Assertions.Expect(terminal).ToContainTextAsync($"reset-{2L * a * b}", new() { Timeout = 60_000 });
        Assert.Equal(["Connected", "Reconnecting…", "Reconnected"], await screenStates());
        Assert.Equal(["Connected", "Reconnecting…", "Reconnected"], await serialStates());

        await PageProbes.AssertNoReloadAsync(page);
        await PageProbes.AssertNoReloadAsync(serial);
        await serial.CloseAsync();
        await page.GotoAsync($"/vms/{vmId}");
        await VmApi.DeleteAsync(page, vmId);
        await page.Context.CloseAsync();
    }

    /// <summary>Adds Rhea's account (the command line prints the password it made) and signs her in.</summary>
    private async Task<IPage> SignInAsync()
    {
        var output = await paddock.PortalCliAsync("accounts", "add", "--user", Rhea);
        var password = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("password=", StringComparison.Ordinal))["password=".Length..];
        return await paddock.SignInAsync(Rhea, password);
    }
}
