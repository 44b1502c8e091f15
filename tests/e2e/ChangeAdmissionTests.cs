using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>Issue 16: a change that makes a VM hold more passes the same quota and host admission as a create.</summary>
[Collection(PaddockCollection.Name)]
public sealed class ChangeAdmissionTests(PaddockFixture paddock)
{
    [Fact]
    public async Task More_vcpus_or_disk_are_refused_over_the_quota_over_the_hosts_ratio_and_over_the_added_disk_cap()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var ada = await paddock.SignInAsync(PaddockFixture.Ada);
        var created = await ada.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "ada-grows", vCpus = 1, memoryMiB = 256 } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(ada, vmId);
        var vm = (await (await ada.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;
        var diskMiB = vm.GetProperty("diskBytes").GetInt64() / (1024 * 1024);
        Guid hostId = default;
        try
        {
            // The quota: one more vCPU or 200 MiB more disk than it leaves.
            await SetQuotaAsync(admin, new { vCpus = 1, diskMiB = diskMiB + 100 });
            await RefusedAsync(ada, vmId, new { action = "SetVCpus", vcpus = 2 }, "vCPUs: requested 1 vCPU, in use 1 of 1 vCPU");
            await RefusedAsync(ada, vmId, new { action = "AddDisk", sizeMiB = 200 }, "disk: requested 200 MiB, in use ");
            await RefusedAsync(ada, vmId, new { action = "GrowDisk", device = "disk0", sizeMiB = diskMiB + 200 }, "disk: requested 200 MiB, in use ");

            // The cap on an added disk, whatever the quota.
            await SetQuotaAsync(admin, new { });
            await RefusedAsync(ada, vmId, new { action = "AddDisk", sizeMiB = 64 * 1024 + 1 }, "Size: between 1 and 65536 MiB.");

            // The host: its CPU ratio set so that what is allocated fills it exactly.
            var hostName = await paddock.HostNameOfAsync(vmId);
            var host = HostOf(await CapacityAsync(admin), hostName);
            hostId = host.GetProperty("id").GetGuid();
            var allocated = host.GetProperty("allocated").GetProperty("vCpus").GetInt64();
            var ratio = (allocated + 0.5) / host.GetProperty("cpus").GetInt32();
            var set = await admin.APIRequest.PutAsync($"/api/hosts/{hostId}/policy",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = new { cpuRatio = ratio } } });
            Assert.True(set.Status == 204, await set.TextAsync());
            Assert.Equal(0, HostOf(await CapacityAsync(admin), hostName).GetProperty("free").GetProperty("vCpus").GetInt64());

            await RefusedAsync(ada, vmId, new { action = "SetVCpus", vcpus = 2 }, "Its host has no room for that right now");
            await RefusedAsync(admin, vmId, new { action = "SetVCpus", vcpus = 2 }, $"has no room for it: vCPUs: 1 asked, 0 free of {allocated}");
            Assert.Equal(1, (await (await ada.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value.GetProperty("vCpus").GetInt32());

            // With room again, the same change goes through.
            await admin.APIRequest.PutAsync($"/api/hosts/{hostId}/policy",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = (object?)null } });
            var grown = await ada.APIRequest.PostAsync($"/api/vms/{vmId}/hardware",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { action = "SetVCpus", vcpus = 2 } });
            Assert.True(grown.Status == 202, await grown.TextAsync());
            await Eventually.Async(
                async () => (await (await ada.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value.GetProperty("vCpus").GetInt32() == 2,
                PaddockFixture.Boot, "two vCPUs");

            // A clone is a create: it needs room for one more VM.
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(ada, vmId) == "Running", PaddockFixture.Boot, "the change done");
            await ada.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders });
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(ada, vmId) == "Stopped", PaddockFixture.Boot, "the VM stopped");
            await SetQuotaAsync(admin, new { vms = 1 });
            var clone = await ada.APIRequest.PostAsync($"/api/vms/{vmId}/clone",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "ada-grows-clone" } });
            var cloneBody = await clone.TextAsync();
            Assert.True(clone.Status == 409, $"{clone.Status}: {cloneBody}");
            Assert.Contains("VMs: requested 1 VM, in use 1 of 1 VM", cloneBody);
        }
        finally
        {
            if (hostId != default)
            {
                await admin.APIRequest.PutAsync($"/api/hosts/{hostId}/policy",
                    new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = (object?)null } });
            }

            await SetQuotaAsync(admin, new { });
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(ada, vmId) is not null, PaddockFixture.Boot, "the VM idle");
            await ada.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders });
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(ada, vmId) == "Stopped", PaddockFixture.Boot, "the VM stopped");
            await ada.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders });
            await ada.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    private static async Task SetQuotaAsync(IPage admin, object limits)
    {
        var set = await admin.APIRequest.PutAsync($"/api/quotas/users/{PaddockFixture.Ada}",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { limits } });
        Assert.True(set.Status == 200, await set.TextAsync());
    }

    private static async Task RefusedAsync(IPage page, Guid vmId, object change, string reason)
    {
        var response = await page.APIRequest.PostAsync($"/api/vms/{vmId}/hardware", new() { Headers = PaddockFixture.ApiHeaders, DataObject = change });
        var body = await response.TextAsync();
        Assert.True(response.Status is >= 400 and < 500, $"{response.Status}: {body}");
        Assert.Contains(reason, body);
    }

    private static async Task<System.Text.Json.JsonElement> CapacityAsync(IPage admin) =>
        (await (await admin.APIRequest.GetAsync("/api/capacity")).JsonAsync())!.Value;

    private static System.Text.Json.JsonElement HostOf(System.Text.Json.JsonElement capacity, string name) =>
        capacity.EnumerateArray().Single(h => h.GetProperty("name").GetString() == name);
}
