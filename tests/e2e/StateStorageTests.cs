using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Issue 15, point 4: what a VM keeps on its host besides its disks (a saved state, snapshots'
/// memory) counts against its owner's disk quota, admitted before it is written; a template's
/// image counts against its owner's image storage, admitted before the conversion writes it.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class StateStorageTests(PaddockFixture paddock)
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public async Task Saved_state_and_snapshot_memory_count_as_disk_and_are_refused_over_the_quota_and_a_template_over_the_image_storage()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var stan = await paddock.SignInAsync(PaddockFixture.Stan);
        var created = await stan.APIRequest.PostAsync(
            "/api/vms", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "stan-states", vCpus = 1, memoryMiB = 256 } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(stan, vmId);
        var diskMiB = (await VmApi.GetAsync(stan, vmId)).GetProperty("diskBytes").GetInt64() / MiB;
        try
        {
            // Room for the disk and 100 MiB more: the memory (256 MiB and its device state) does not fit.
            await SetDiskQuotaAsync(admin, diskMiB + 100);
            await RefusedAsync(stan, $"/api/vms/{vmId}/save", null, "disk: requested 272 MiB, in use ");
            await RefusedAsync(stan, $"/api/vms/{vmId}/snapshots", new { name = "with-memory" }, "disk: requested 272 MiB, in use ");
            Assert.Equal("Running", await PaddockFixture.IdleStatusAsync(stan, vmId));

            // With room, the save goes through and its state counts as disk, in the API and on the VM's page.
            await SetDiskQuotaAsync(admin, diskMiB + 600);
            await AcceptedAsync(stan, $"/api/vms/{vmId}/save", null);
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(stan, vmId) == "Saved", PaddockFixture.Boot, "the VM saved");
            var saved = await StateBytesAsync(stan, vmId);
            Assert.InRange(saved, 1, 272 * MiB);
            await InUseCountsStatesAsync(stan, vmId);
            await stan.GotoAsync($"/vms/{vmId}");
            await Assertions.Expect(stan.GetByTestId("vm-state-storage")).ToContainTextAsync("counted as disk");
            await stan.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-states.png"), FullPage = true });

            // Restored, the saved state is gone and frees its share; a snapshot's memory then takes it.
            await AcceptedAsync(stan, $"/api/vms/{vmId}/restore", null);
            await Eventually.Async(
                async () => await PaddockFixture.IdleStatusAsync(stan, vmId) == "Running" && await StateBytesAsync(stan, vmId) == 0,
                PaddockFixture.Boot,
                "the VM restored");
            await InUseCountsStatesAsync(stan, vmId);
            await AcceptedAsync(stan, $"/api/vms/{vmId}/snapshots", new { name = "with-memory" });
            await Eventually.Async(
                async () => await StateBytesAsync(stan, vmId) > 0 && await PaddockFixture.IdleStatusAsync(stan, vmId) == "Running",
                PaddockFixture.Boot,
                "the snapshot taken");
            await InUseCountsStatesAsync(stan, vmId);

            // A template's image takes its owner's image storage, decided before anything is written.
            await AcceptedAsync(stan, $"/api/vms/{vmId}/poweroff", null);
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(stan, vmId) == "Stopped", PaddockFixture.Boot, "the VM stopped");
            await AdminPages.SetImageStorageAsync(admin, stan, (int)diskMiB - 1);
            var converted = await stan.APIRequest.PostAsync(
                $"/api/vms/{vmId}/template", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "stan-template", description = "" } });
            var body = await converted.TextAsync();
            Assert.True(converted.Status == 409, $"{converted.Status}: {body}");
            Assert.Contains("Image storage: a template of this VM's disk needs", body);
            Assert.Equal("Stopped", await PaddockFixture.IdleStatusAsync(stan, vmId));
        }
        finally
        {
            await AdminPages.SetImageStorageAsync(admin, stan, 20480);
            await SetDiskQuotaAsync(admin, null);
            await VmApi.DeleteAsync(stan, vmId);
            await stan.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    private static async Task<long> StateBytesAsync(IPage page, Guid vmId) => (await VmApi.GetAsync(page, vmId)).GetProperty("stateBytes").GetInt64();

    /// <summary>The owner's disk in use is the VM's disk and its states, rounded up to whole MiB together.</summary>
    private static async Task InUseCountsStatesAsync(IPage page, Guid vmId)
    {
        var last = "";
        try
        {
            await Eventually.Async(
                async () =>
                {
                    var vm = await VmApi.GetAsync(page, vmId);
                    var expected = (vm.GetProperty("diskBytes").GetInt64() + vm.GetProperty("stateBytes").GetInt64() + MiB - 1) / MiB;
                    var inUse = await DiskInUseAsync(page);
                    last = $"in use {inUse} MiB, expected {expected} MiB from {vm}";
                    return inUse == expected;
                },
                TimeSpan.FromSeconds(10),
                "the disk in use to count the states");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{e.Message}; last seen: {last}", e);
        }
    }

    private static async Task<long> DiskInUseAsync(IPage page) =>
        (await (await page.APIRequest.GetAsync("/api/quota")).JsonAsync())!.Value[0].GetProperty("inUse").GetProperty("diskMiB").GetInt64();

    private static async Task SetDiskQuotaAsync(IPage admin, long? diskMiB)
    {
        object limits = diskMiB is { } disk ? new { diskMiB = disk } : new { };
        var set = await admin.APIRequest.PutAsync(
            $"/api/quotas/users/{PaddockFixture.Stan}", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { limits } });
        Assert.True(set.Status == 200, await set.TextAsync());
    }

    private static async Task AcceptedAsync(IPage page, string path, object? body)
    {
        var response = await page.APIRequest.PostAsync(path, new() { Headers = PaddockFixture.ApiHeaders, DataObject = body });
        Assert.True(response.Status == 202, $"{path}: {response.Status} {await response.TextAsync()}");
    }

    private static async Task RefusedAsync(IPage page, string path, object? body, string reason)
    {
        var response = await page.APIRequest.PostAsync(path, new() { Headers = PaddockFixture.ApiHeaders, DataObject = body });
        var text = await response.TextAsync();
        Assert.True(response.Status is >= 400 and < 500, $"{path}: {response.Status} {text}");
        Assert.Contains(reason, text);
    }
}
