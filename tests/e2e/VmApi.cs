using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>VM operations through the API, as a signed-in page, waited on until done.</summary>
public static class VmApi
{
    /// <summary>The VM as the API shows it to <paramref name="page"/>'s user.</summary>
    public static async Task<System.Text.Json.JsonElement> GetAsync(IPage page, Guid vmId) =>
        (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;

    /// <summary>Creates a one-vCPU VM of the built-in template through the API and waits until it runs and its Create task has ended.</summary>
    /// <remarks>Its NIC is on its owner's default network, or with <paramref name="isolated"/> on QEMU's isolated user-mode NAT.</remarks>
    public static async Task<Guid> CreateRunningAsync(IPage page, string name, int memoryMiB = 192, bool isolated = false)
    {
        object body = isolated
            ? new { name, vCpus = 1, memoryMiB, nics = new[] { new { isolated = true } } }
            : new { name, vCpus = 1, memoryMiB };
        var created = await page.APIRequest.PostAsync("/api/vms", new() { Headers = PaddockFixture.ApiHeaders, DataObject = body });
        Assert.True(created.Status == 201, await created.TextAsync());
        var id = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(page, id);
        return id;
    }

    /// <summary>Polls the task a 202 pointed at (its Location) until it is no longer Running; returns it.</summary>
    public static async Task<System.Text.Json.JsonElement> TaskEndedAsync(IPage page, string location)
    {
        System.Text.Json.JsonElement task = default;
        await Eventually.Async(async () =>
        {
            var answer = await page.APIRequest.GetAsync(location);
            Assert.True(answer.Status == 200, $"{location}: {answer.Status} {await answer.TextAsync()}");
            task = (await answer.JsonAsync())!.Value;
            return task.GetProperty("state").GetString() != "Running";
        }, PaddockFixture.Boot, $"the task at {location} to end");
        return task;
    }

    /// <summary>Asks for <paramref name="verb"/> and waits until the VM rests in <paramref name="status"/>.</summary>
    public static async Task PowerAsync(IPage page, Guid vmId, string verb, string status)
    {
        var response = await page.APIRequest.PostAsync($"/api/vms/{vmId}/{verb}", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.True(response.Status == 202, $"{verb}: {response.Status} {await response.TextAsync()}");
        try
        {
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vmId) == status, PaddockFixture.Boot, $"the VM {status}");
        }
        catch (TimeoutException e)
        {
            // What the VM was instead says where to look.
            throw new TimeoutException($"{e.Message} The VM: {await GetAsync(page, vmId)}", e);
        }
    }

    /// <summary>Powers the VM off if it runs, deletes it and waits until it is gone.</summary>
    public static async Task DeleteAsync(IPage page, Guid vmId)
    {
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vmId) is not null, PaddockFixture.Boot, "the VM idle");
        if (await PaddockFixture.IdleStatusAsync(page, vmId) is "Running" or "Paused")
        {
            await PowerAsync(page, vmId, "poweroff", "Stopped");
        }

        var response = await page.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.True(response.Status == 202, $"delete: {response.Status} {await response.TextAsync()}");
        await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).Status == 404, PaddockFixture.Boot, "the VM gone");
    }

    /// <summary>
    /// A test that failed half-way may leave its VM (on any host): it goes, so that later tests
    /// find the hosts as they expect. The test's own failure is what the run reports.
    /// </summary>
    public static async Task LeaveNoVmAsync(IPage owner, Guid vmId)
    {
        try
        {
            if ((await owner.APIRequest.GetAsync($"/api/vms/{vmId}")).Status != 404)
            {
                await DeleteAsync(owner, vmId);
            }
        }
        catch (Exception e) when (e is Xunit.Sdk.XunitException or PlaywrightException or TimeoutException)
        {
            Console.Error.WriteLine($"VM {vmId} was left behind: {e.Message}");
        }
    }
}
