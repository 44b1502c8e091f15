using System.Globalization;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// The VM page's live charts and the admins' top table, pushed as the host reports (the page is not
/// reloaded): a busy loop in the guest takes its CPU chart above 50 %, a dd of its disk moves its
/// disk charts, and the top table shows the VM's CPU and sorts by a column. The API gives the same samples.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class VmStatsTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_busy_guest_raises_its_cpu_chart_a_dd_moves_its_disk_chart_and_the_top_table_shows_it_live()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Stella);
        var vmId = await VmApi.CreateRunningAsync(page, "stats-vm");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await GuestSerial.WaitForShellAsync(runDir);
        await page.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(page);
        await Eventually.Async(async () => await FigureAsync(page, "cpu", "cpu", "latest") >= 0, PaddockFixture.Boot, "the first figures on the page");
        var readBefore = await FigureAsync(page, "disk-bytes", "read", "peak");

        await GuestSerial.TypeAsync(runDir, "(trap '' INT; while :; do :; done) & echo $! > /run/busy");
        await Eventually.Async(async () => await FigureAsync(page, "cpu", "cpu", "latest") > 50, TimeSpan.FromSeconds(45), "the CPU chart above 50 %");
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-stats.png"), FullPage = true });

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/top");
        await PaddockFixture.InteractiveAsync(admin);
        var row = admin.Locator("tr[data-vm='stats-vm']");
        await Eventually.Async(async () => await row.CountAsync() == 1
            && double.Parse((await row.Locator("[data-column=cpu]").InnerTextAsync()).Split(' ')[0], CultureInfo.InvariantCulture) > 50,
            TimeSpan.FromSeconds(30), "the VM's CPU in the top table");
        await admin.GetByRole(AriaRole.Button, new() { Name = "VM", Exact = true }).ClickAsync();
        await Assertions.Expect(admin.Locator("th[aria-sort=ascending]")).ToContainTextAsync("VM");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "top.png"), FullPage = true });

        await GuestShell.RunAsync(runDir, "kill $(cat /run/busy); dd if=/dev/vda of=/dev/null bs=1M count=32 2>/dev/null");
        await Eventually.Async(async () => await FigureAsync(page, "disk-bytes", "read", "peak") is var peak && peak >= 1 << 20 && peak > readBefore,
            TimeSpan.FromSeconds(30), "the dd in the disk chart");
        Assert.True(await FigureAsync(page, "disk-ops", "read", "peak") > 0);

        var samples = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}/stats?minutes=10")).JsonAsync())!.Value.EnumerateArray().ToList();
        Assert.Contains(samples, s => s.GetProperty("cpuPercent").GetDouble() > 50);
        Assert.Contains(samples, s => s.GetProperty("diskReadBytesPerSecond").GetDouble() >= 1 << 20);
        Assert.Equal(422, (await page.APIRequest.GetAsync($"/api/vms/{vmId}/stats?minutes=0")).Status);

        await VmApi.DeleteAsync(page, vmId);
        await admin.Context.CloseAsync();
        await page.Context.CloseAsync();
    }

    /// <summary>A figure a chart shows of one of its lines (its newest value, or its highest of the hour); -1 while it has none.</summary>
    private static async Task<double> FigureAsync(IPage page, string chart, string series, string which)
    {
        var line = page.Locator($"[data-chart='{chart}'] [data-series='{series}']");
        return await line.CountAsync() == 1 && await line.GetAttributeAsync($"data-{which}") is { Length: > 0 } text
            ? double.Parse(text, CultureInfo.InvariantCulture) : -1;
    }
}
