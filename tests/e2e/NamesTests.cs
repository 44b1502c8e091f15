using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class NamesTests(PaddockFixture paddock)
{
    private static readonly Dictionary<string, string> Api = PaddockFixture.ApiHeaders;

    [Fact]
    public async Task Concurrent_creates_with_one_name_leave_exactly_one_vm_because_the_database_says_so()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Bob);
        var name = $"twin-{Guid.NewGuid():N}"[..12];
        var responses = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ =>
            page.APIRequest.PostAsync("/api/vms", new() { DataObject = new { name, vCpus = 1, memoryMiB = 128 }, Headers = Api })));

        Assert.Equal(1, responses.Count(r => r.Status == 201));
        Assert.Equal(4, responses.Count(r => r.Status == 422));
        var listed = (await (await page.APIRequest.GetAsync("/api/vms")).JsonAsync())!.Value.EnumerateArray()
            .Where(v => v.GetProperty("name").GetString() == name).ToList();
        Assert.Single(listed);

        // Clean up: wait for the VM to run, power it off, delete it.
        var id = listed[0].GetProperty("id").GetString();
        // Running and its create task ended: a power-off before that is refused as in progress.
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, Guid.Parse(id!)) == "Running", TimeSpan.FromSeconds(120), "the VM to run");
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{id}/poweroff", new() { Headers = Api })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, Guid.Parse(id!)) == "Stopped", TimeSpan.FromSeconds(60), "the VM to stop");
        Assert.Equal(202, (await page.APIRequest.PostAsync($"/api/vms/{id}/delete", new() { Headers = Api })).Status);
        await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{id}")).Status == 404, TimeSpan.FromSeconds(60), "the VM to be deleted");
        await page.Context.CloseAsync();
    }
}
