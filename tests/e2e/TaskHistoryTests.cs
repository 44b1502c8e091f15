using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// A VM's history is read a page at a time: the API pages it through its Link header, the VM page
/// shows the newest twenty and older ones on request. Settings changes on a stopped VM make the
/// history without booting a guest.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class TaskHistoryTests(PaddockFixture paddock)
{
    private const int Changes = 24;

    [Fact]
    public async Task A_long_history_comes_a_page_at_a_time_in_the_API_and_on_the_VM_page()
    {
        var owner = await paddock.SignInAsync(PaddockFixture.Tim);
        var created = await owner.APIRequest.PostAsync("/api/vms", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "tim-history", vCpus = 1, memoryMiB = 128, start = false } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(owner, vmId) == "Stopped", PaddockFixture.Boot, "the VM created");
        for (var i = 0; i < Changes; i++)
        {
            var changed = await owner.APIRequest.PutAsync($"/api/vms/{vmId}/settings", new()
            {
                Headers = PaddockFixture.ApiHeaders,
                DataObject = new { shutdownTimeoutSeconds = 30 + i, restart = "Never", maxRestartsPerHour = 3 },
            });
            Assert.True(changed.Status == 202, $"settings: {changed.Status} {await changed.TextAsync()}");
            await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(owner, vmId) is not null, PaddockFixture.Boot, "the change made");
        }

        var whole = await TaskIdsAsync(owner, $"/api/vms/{vmId}/tasks?limit=200");
        Assert.Equal(Changes + 1, whole.Ids.Count);
        Assert.Null(whole.Next);
        var paged = new List<string>();
        var pages = 0;
        var next = $"/api/vms/{vmId}/tasks?limit=5";
        while (next is not null)
        {
            var page = await TaskIdsAsync(owner, next);
            Assert.True(page.Ids.Count is > 0 and <= 5);
            paged.AddRange(page.Ids);
            next = page.Next;
            pages++;
        }

        Assert.Equal(whole.Ids, paged);
        Assert.Equal(5, pages);
        Assert.Equal(422, (await owner.APIRequest.GetAsync($"/api/vms/{vmId}/tasks?limit=0")).Status);
        Assert.Equal(400, (await owner.APIRequest.GetAsync($"/api/vms/{vmId}/tasks?before=soon")).Status);
        var stranger = await paddock.SignInAsync(PaddockFixture.Bob);
        Assert.Equal(404, (await stranger.APIRequest.GetAsync($"/api/vms/{vmId}/tasks?limit=5")).Status);

        await owner.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(owner);
        var rows = owner.GetByRole(AriaRole.Table, new() { Name = "Tasks" }).GetByRole(AriaRole.Row);
        await Assertions.Expect(rows).ToHaveCountAsync(20 + 1);
        await owner.GetByRole(AriaRole.Button, new() { Name = "Show older tasks" }).ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(Changes + 1 + 1);
        await Assertions.Expect(rows.Last).ToContainTextAsync("Create");
        await Assertions.Expect(owner.GetByRole(AriaRole.Button, new() { Name = "Show older tasks" })).ToHaveCountAsync(0);
        await owner.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-task-history.png"), FullPage = true });

        await VmApi.DeleteAsync(owner, vmId);
        await owner.Context.CloseAsync();
        await stranger.Context.CloseAsync();
    }

    /// <summary>The task ids of one page, newest first, and the address of the next (older) page, if any.</summary>
    private static async Task<(List<string> Ids, string? Next)> TaskIdsAsync(IPage page, string url)
    {
        var response = await page.APIRequest.GetAsync(url);
        Assert.Equal(200, response.Status);
        var ids = (await response.JsonAsync())!.Value.EnumerateArray().Select(t => t.GetProperty("operationId").GetString()!).ToList();
        var link = response.Headers.GetValueOrDefault("link");
        return (ids, link is null ? null : NextLink().Match(link) is { Success: true } m ? m.Groups[1].Value : throw new Xunit.Sdk.XunitException($"Link header: {link}"));
    }

    [GeneratedRegex("<([^>]+)>; rel=\"next\"")]
    private static partial Regex NextLink();
}
