using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Type text on the console page: what the box holds arrives on the guest exactly, shifted
/// characters and all (the guest's shell writes its result to the serial port); a long text stops
/// when asked, saying how far it got; the API refuses, next to the field, what the VM's layout has
/// no key for, too much text, and a layout that does not exist. The screen's thumbnail changes with
/// what was typed, and My VMs shows it.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class TypeTextTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Typed_text_arrives_exactly_a_long_one_stops_when_asked_and_what_no_key_makes_is_refused()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Tyler);
        var vmId = await VmApi.CreateRunningAsync(page, "typed-vm");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await GuestSerial.WaitForShellAsync(runDir);
        await page.GotoAsync($"/vms/{vmId}/console");
        await PaddockFixture.InteractiveAsync(page);
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });

        // The screen's thumbnail before typing: a small PNG.
        var before = await ThumbnailAsync(page, vmId);
        Assert.Equal(new byte[] { 137, 80, 78, 71 }, before[..4]);
        Assert.InRange(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(before.AsSpan(16)), 1, 320);

        await page.GetByRole(AriaRole.Button, new() { Name = "Type text" }).ClickAsync();
        var box = page.GetByLabel("Text to type");
        var status = page.GetByRole(AriaRole.Status, new() { Name = "Typing" });
        const string line = "echo $((6*7)) \"Quoted\" | tr a-z A-Z > /dev/ttyS0\n";
        await box.FillAsync(line);
        await page.GetByRole(AriaRole.Button, new() { Name = "Type", Exact = true }).ClickAsync();
        await Eventually.Async(() => GuestSerial.Read(Path.Combine(runDir, "serial.log")).Contains("42 QUOTED", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "the typed line's output on the serial port");
        await Assertions.Expect(status).ToHaveTextAsync($"Typed {line.Length} characters.", new() { Timeout = 30_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "type-text.png") });

        // The typed line is on the screen: the thumbnail's pixels changed. My VMs shows it, loaded.
        await Eventually.Async(async () => !(await ThumbnailAsync(page, vmId)).SequenceEqual(before), TimeSpan.FromSeconds(30), "the thumbnail to show the typed line");
        var list = await page.Context.NewPageAsync();
        await list.GotoAsync("/");
        await PaddockFixture.InteractiveAsync(list);
        var thumbnail = list.GetByRole(AriaRole.Img, new() { Name = "Screen of typed-vm" });
        await Eventually.Async(async () => await thumbnail.EvaluateAsync<int>("img => img.naturalWidth") > 0, TimeSpan.FromSeconds(30), "the thumbnail on My VMs");
        await list.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "thumbnails.png") });
        await list.CloseAsync();

        // 400 characters take 16 s: stopped long before.
        await box.FillAsync(new string('x', 400));
        await page.GetByRole(AriaRole.Button, new() { Name = "Type", Exact = true }).ClickAsync();
        // Its progress comes as it types; the API's task says the same.
        await Assertions.Expect(status).ToHaveTextAsync(new Regex("^Typing: \\d+ % · [1-9]\\d* of 400 characters"), new() { Timeout = 30_000 });
        var task = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}/tasks")).JsonAsync())!.Value[0];
        Assert.Equal("TypeText", task.GetProperty("verb").GetString());
        var progress = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}/tasks/{task.GetProperty("operationId").GetString()}")).JsonAsync())!.Value.GetProperty("progress");
        Assert.Equal("characters", progress.GetProperty("unit").GetString());
        Assert.Equal(400, progress.GetProperty("total").GetInt64());
        await page.GetByRole(AriaRole.Button, new() { Name = "Stop typing" }).ClickAsync();
        await Assertions.Expect(status).ToHaveTextAsync(new Regex("^Stopped after \\d+ of 400 characters\\.$"), new() { Timeout = 30_000 });

        // The API: the same action, and its refusals name the field.
        var typed = await page.APIRequest.PostAsync($"/api/vms/{vmId}/type", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { text = "\n" } });
        Assert.Equal(202, typed.Status);
        foreach (var (text, says) in new[] { ("price: 5 €", "'€' (character 10) has no key on the English (US) keyboard layout."), (new string('y', 2001), "at most 2000 characters") })
        {
            var refused = await page.APIRequest.PostAsync($"/api/vms/{vmId}/type", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { text } });
            Assert.Equal(422, refused.Status);
            Assert.Contains(says, (await refused.JsonAsync())!.Value.GetProperty("errors").GetProperty("text")[0].GetString());
        }

        var layout = await page.APIRequest.PutAsync($"/api/vms/{vmId}/settings", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { shutdownTimeoutSeconds = 60, restart = "Never", maxRestartsPerHour = 3, bootOrder = "disk,cdrom", keyboardLayout = "klingon" },
        });
        Assert.Equal(422, layout.Status);
        Assert.Equal("Keyboard layout: one of en-us, de.", (await layout.JsonAsync())!.Value.GetProperty("errors").GetProperty("settings")[0].GetString());

        await page.GotoAsync($"/vms/{vmId}");
        await VmApi.DeleteAsync(page, vmId);
        await page.Context.CloseAsync();
    }

    private static async Task<byte[]> ThumbnailAsync(IPage page, Guid vmId)
    {
        var answer = await page.APIRequest.GetAsync($"/api/vms/{vmId}/thumbnail");
        Assert.True(answer.Status == 200 && answer.Headers["content-type"] == "image/png", $"{answer.Status} {answer.Headers.GetValueOrDefault("content-type")}");
        return await answer.BodyAsync();
    }
}
