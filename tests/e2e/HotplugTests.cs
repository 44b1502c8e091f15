using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed partial class HotplugTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_running_guest_sees_a_disk_come_grow_and_go_a_nic_come_and_go_and_a_vcpu_come_and_all_of_it_survives_a_restart()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Mona);
        var vmId = await PaddockFixture.CreateVmAsync(page, "hotplug");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(runDir);

        // A blank 64 MiB disk, from the page.
        await page.GetByLabel("New disk size (MiB)").FillAsync("64");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add disk" }).ClickAsync();
        await PaddockFixture.ExpectTaskAsync(page, "Change hardware", "Done");
        await Assertions.Expect(page.GetByRole(AriaRole.Cell, new() { Name = "Size of disk1", Exact = true })).ToHaveTextAsync("64 MiB disk");
        await Eventually.Async(
            async () => Partition(await GuestAsync(runDir, "cat /proc/partitions"), "vdb") == 65536,
            TimeSpan.FromSeconds(30), "vdb in the guest");

        // Grown online: the guest sees the new size.
        await page.GetByLabel("New size of disk1 (MiB)").FillAsync("96");
        await page.GetByRole(AriaRole.Button, new() { Name = "Grow disk1" }).ClickAsync();
        await Eventually.Async(
            async () => Partition(await GuestAsync(runDir, "cat /proc/partitions"), "vdb") == 98304,
            TimeSpan.FromSeconds(30), "vdb grown in the guest");
        // Shrinking is refused with the reason, next to the field.
        await page.GetByLabel("New size of disk1 (MiB)").FillAsync("32");
        await page.GetByRole(AriaRole.Button, new() { Name = "Grow disk1" }).ClickAsync();
        await Assertions.Expect(page.GetByText("disk1 has 96 MiB; it can only grow")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Hardware" }).ScrollIntoViewIfNeededAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "hardware.png") });

        // A second NIC comes and goes.
        Assert.Equal(202, (await ChangeAsync(page, vmId, new { action = "AddNic" })).Status);
        await Eventually.Async(async () => (await GuestAsync(runDir, "ls /sys/class/net")).Contains("eth1"), TimeSpan.FromSeconds(30), "eth1 in the guest");
        await WaitIdleAsync(page, vmId);
        Assert.Equal(202, (await ChangeAsync(page, vmId, new { action = "RemoveNic", device = "net1" })).Status);
        await WaitIdleAsync(page, vmId);
        Assert.DoesNotContain("eth1", await GuestAsync(runDir, "ls /sys/class/net"));

        // A vCPU comes (the guest brings it online as a user would), up to the maximum shown.
        await page.GetByLabel("vCPUs", new() { Exact = true }).FillAsync("2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Set vCPUs" }).ClickAsync();
        await WaitIdleAsync(page, vmId);
        await Eventually.Async(
            async () => (await GuestAsync(runDir, "echo 1 > /sys/devices/system/cpu/cpu1/online; grep -c ^processor /proc/cpuinfo")).Contains("\n2"),
            TimeSpan.FromSeconds(30), "the second vCPU");
        var tooMany = await ChangeAsync(page, vmId, new { action = "SetVCpus", vcpus = 5 });
        Assert.Equal(422, tooMany.Status);
        Assert.Contains("between 1 and 4", await tooMany.TextAsync());

        // The disk goes: the guest lets go of it first.
        Assert.Equal(202, (await ChangeAsync(page, vmId, new { action = "RemoveDisk", device = "disk1" })).Status);
        await WaitIdleAsync(page, vmId);
        Assert.Null(Partition(await GuestAsync(runDir, "cat /proc/partitions"), "vdb"));
        Assert.False(File.Exists(Path.Combine(runDir, "disk-disk1.qcow2")));

        // Stopped, a disk is added for the next boot; after a restart the guest has it and its 2 vCPUs.
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        Assert.Equal(202, (await ChangeAsync(page, vmId, new { action = "AddDisk", sizeMiB = 16 })).Status);
        await WaitIdleAsync(page, vmId);
        // ... and grown offline (qemu-img resize) before it is ever used.
        Assert.Equal(202, (await ChangeAsync(page, vmId, new { action = "GrowDisk", device = "disk1", sizeMiB = 24 })).Status);
        await WaitIdleAsync(page, vmId);
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/start", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(runDir, 2, "the shell after the restart");
        var after = await GuestAsync(runDir, "cat /proc/partitions; grep -c ^processor /proc/cpuinfo");
        Assert.Equal(24576, Partition(after, "vdb"));
        Assert.Contains("\n2", after);

        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await page.Context.CloseAsync();
    }

    private static Task<IAPIResponse> ChangeAsync(IPage page, Guid vmId, object change) =>
        page.APIRequest.PostAsync($"/api/vms/{vmId}/hardware", new() { Headers = PaddockFixture.ApiHeaders, DataObject = change });

    /// <summary>Waits for the VM's task to end, and fails with its message if it failed.</summary>
    private static async Task WaitIdleAsync(IPage page, Guid vmId)
    {
        JsonElement vm = default;
        await Eventually.Async(async () =>
        {
            vm = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;
            return vm.GetProperty("pendingOperation").ValueKind == JsonValueKind.Null;
        }, TimeSpan.FromSeconds(60), "the task to end");
        Assert.True(vm.GetProperty("lastError").ValueKind == JsonValueKind.Null, vm.GetProperty("lastError").ToString());
    }

    private static async Task<string> GuestAsync(string runDir, string command) =>
        await GuestSerial.RunAsync(runDir, $"{command}; echo done-\"g\"", until: "done-g");

    /// <summary>A block device's size in KiB blocks from /proc/partitions, or null when the guest has no such device.</summary>
    private static int? Partition(string partitions, string device) =>
        PartitionLine().Matches(partitions).FirstOrDefault(m => m.Groups[2].Value == device) is { } line ? int.Parse(line.Groups[1].Value) : null;

    [GeneratedRegex(@"^\s*\d+\s+\d+\s+(\d+)\s+(\w+)\s*$", RegexOptions.Multiline)]
    private static partial Regex PartitionLine();
}
