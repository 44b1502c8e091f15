using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Issue #22: a create sent again with the same Idempotency-Key (a lost answer, a retried job) makes
/// one VM: two at once and a third later, even with another body, all answer 201 with the first VM,
/// the repeats marked Idempotent-Replayed; a malformed key is a 422 naming the header.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class IdempotentCreateTests(PaddockFixture paddock)
{
    [Fact]
    public async Task The_same_idempotency_key_makes_one_vm_however_often_and_however_at_once_it_is_sent()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Ida);
        var key = Guid.NewGuid().ToString();
        Task<IAPIResponse> CreateAsync(string name, string withKey) => page.APIRequest.PostAsync("/api/vms", new()
        {
            Headers = new Dictionary<string, string>(PaddockFixture.ApiHeaders) { ["Idempotency-Key"] = withKey },
            DataObject = new { name, vCpus = 1, memoryMiB = 128, start = false, nics = new[] { new { isolated = true } } },
        });

        var answers = (await Task.WhenAll(CreateAsync("ida-one", key), CreateAsync("ida-one", key))).Append(await CreateAsync("ida-two", key)).ToList();
        foreach (var answer in answers)
        {
            Assert.True(answer.Status == 201, $"{answer.Status} {await answer.TextAsync()}");
        }

        var ids = await Task.WhenAll(answers.Select(async a => (await a.JsonAsync())!.Value.GetProperty("id").GetGuid()));
        Assert.Single(ids.Distinct());
        Assert.All(answers, a => Assert.Equal($"/api/vms/{ids[0]}", a.Headers["location"]));
        Assert.Equal(2, answers.Count(a => a.Headers.GetValueOrDefault("idempotent-replayed") == "true"));
        var mine = (await (await page.APIRequest.GetAsync("/api/vms")).JsonAsync())!.Value.EnumerateArray().Select(v => v.GetProperty("name").GetString()).ToList();
        Assert.Equal(["ida-one"], mine);

        var bad = await CreateAsync("ida-three", "not a key");
        Assert.Equal(422, bad.Status);
        Assert.Contains("Idempotency-Key: 1 to 255 visible ASCII characters", await bad.TextAsync());

        await VmApi.DeleteAsync(page, ids[0]);
        await page.Context.CloseAsync();
    }
}
