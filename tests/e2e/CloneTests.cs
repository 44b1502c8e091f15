using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed partial class CloneTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_clone_of_a_stopped_vm_is_a_full_copy_with_its_own_identity_and_boots()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Hank);
        var sourceId = await PaddockFixture.CreateVmAsync(page, "origin");
        var sourceDir = Path.Combine(paddock.VmsDir, sourceId.ToString());
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(sourceDir);

        // Something the guest wrote onto its own disk, 100 MiB in.
        await GuestSerial.RunAsync(sourceDir, "echo clone-marker | dd of=/dev/vda bs=1M seek=100 conv=fsync 2>/dev/null; echo done-\"dd\"", until: "done-dd");
        await page.GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        var sourceDetails = await page.GetByRole(AriaRole.Table, new() { Name = "Details" }).InnerTextAsync();

        await page.GetByRole(AriaRole.Button, new() { Name = "Clone" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByLabel("Name of the clone").FillAsync("copy");
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Clone" }).ClickAsync();
        await PaddockFixture.LandsOnAsync(page, $"/vms/(?!{sourceId})[0-9a-f-]{{36}}$");
        var cloneId = Guid.Parse(page.Url[^36..]);
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "copy" })).ToBeVisibleAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");

        // Its own identity: MAC, uid and label differ from the source's.
        var cloneDetails = await page.GetByRole(AriaRole.Table, new() { Name = "Details" }).InnerTextAsync();
        foreach (var pattern in new[] { MacPattern(), UidPattern(), LabelPattern() })
        {
            Assert.NotEqual(pattern.Match(sourceDetails).Value, pattern.Match(cloneDetails).Value);
        }

        // A full copy: no backing file, and the guest's bytes are in it.
        var cloneDisk = Path.Combine(paddock.VmsDir, cloneId.ToString(), "disk-disk0.qcow2");
        Assert.DoesNotContain("backing", await PaddockFixture.RunAsync("qemu-img", "info", "-U", "-f", "qcow2", cloneDisk));
        var extract = Path.Combine(Path.GetTempPath(), $"clone-{cloneId}.raw");
        // qemu-img 7.2's dd counts the skipped blocks into count: 101 reads the 100th MiB.
        await PaddockFixture.RunAsync("qemu-img", "dd", "-f", "qcow2", "-O", "raw", "bs=1M", "skip=100", "count=101", $"if={cloneDisk}", $"of={extract}");
        Assert.Contains("clone-marker", File.ReadAllText(extract));
        File.Delete(extract);

        // And it boots under its own uid.
        await page.GetByRole(AriaRole.Button, new() { Name = "Start" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await Eventually.Async(
            () => GuestSerial.Banners(Path.Combine(paddock.VmsDir, cloneId.ToString(), "serial.log")) == 1,
            PaddockFixture.Boot, "the clone's shell");

        var api = page.APIRequest;
        Assert.Equal(202, (await api.PostAsync($"/api/vms/{cloneId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, cloneId) == "Stopped", TimeSpan.FromSeconds(60), "the clone to stop");
        foreach (var id in new[] { cloneId, sourceId })
        {
            Assert.Equal(202, (await api.PostAsync($"/api/vms/{id}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        }

        await page.Context.CloseAsync();
    }

    [GeneratedRegex(@"52:54:00(:[0-9a-f]{2}){3}")]
    private static partial Regex MacPattern();

    [GeneratedRegex(@"uid \d+")]
    private static partial Regex UidPattern();

    [GeneratedRegex(@"s0:c\d+,c\d+")]
    private static partial Regex LabelPattern();
}
