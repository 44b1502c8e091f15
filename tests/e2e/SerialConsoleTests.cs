using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class SerialConsoleTests(PaddockFixture paddock)
{
    [Fact]
    public async Task The_serial_console_types_into_the_guest_and_its_whole_log_downloads_for_the_owner_only()
    {
        var (page, vmId) = await paddock.CarolsRunningVmAsync();
        var serialLog = Path.Combine(paddock.VmsDir, vmId.ToString(), "serial.log");
        await Eventually.Async(
            () => File.Exists(serialLog) && Read(serialLog).Contains("paddock-template ready"),
            TimeSpan.FromSeconds(120), "the guest's shell");

        await page.GetByRole(AriaRole.Link, new() { Name = "Serial console" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Serial state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        var a = Random.Shared.Next(1000, 9999);
        var b = Random.Shared.Next(1000, 9999);
        var product = ((long)a * b).ToString();
        await page.GetByRole(AriaRole.Application, new() { Name = "Serial terminal" }).ClickAsync();
        // A fresh prompt first: the line is then the shell's, whatever the port saw before the console opened.
        var prompts = Prompts(serialLog);
        await page.Keyboard.PressAsync("Enter");
        await Eventually.Async(() => Prompts(serialLog) > prompts, TimeSpan.FromSeconds(30), "a new prompt on the serial port");
        await page.Keyboard.TypeAsync($"echo serial-$(({a}*{b}))", new() { Delay = 20 });
        await page.Keyboard.PressAsync("Enter");
        await Eventually.Async(() => Read(serialLog).Contains($"serial-{product}"), TimeSpan.FromSeconds(30), "the product on the serial port");
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "serial.png") });

        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Link, new() { Name = "Download log" }).ClickAsync());
        var downloaded = await File.ReadAllTextAsync((await download.PathAsync())!);
        Assert.Contains("paddock-template ready", downloaded);
        Assert.Contains($"serial-{product}", downloaded);

        // Another member gets the answer for a VM that does not exist.
        var bob = await paddock.SignInAsync(PaddockFixture.Bob);
        Assert.Equal(404, (await bob.APIRequest.GetAsync($"/api/vms/{vmId}/serial-log")).Status);
        Assert.Equal(404, (await bob.APIRequest.GetAsync($"/api/vms/{Guid.NewGuid()}/serial-log")).Status);
        await bob.Context.CloseAsync();

        // A ticket for the screen does not open the serial port.
        await page.GetByRole(AriaRole.Link, new() { Name = "Back to the VM" }).ClickAsync();
        var vncTicket = await PaddockFixture.ConsoleTicketAsync(page, vmId, "vnc");
        Assert.Null(await paddock.OpenConsoleAsync(page, $"/console/{vmId}/serial?ticket={vncTicket}", paddock.PortalUrl));
    }

    private static int Prompts(string serialLog) => Regex.Count(Read(serialLog), "paddock:~# ");

    private static string Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return Regex.Replace(reader.ReadToEnd(), "\u001b\\[[0-9;]*[A-Za-z]", "");
    }
}
