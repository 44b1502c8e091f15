using Microsoft.Playwright;

namespace Paddock.E2e;

public sealed partial class WallsMatrixTests
{
    /// <summary>
    /// The walls again with B's personal API tokens instead of B's cookie: through a token A's
    /// objects answer exactly as ids that do not exist; a read-only token changes nothing whatever
    /// it names (403); a revoked token gets 401 on every <c>/api</c> route (and the other revoked one too).
    /// </summary>
    private async Task TokenWallsAsync(IPage other, Dictionary<Takes, Guid> foreign, string foreignFile, string[] secrets)
    {
        var (everythingId, everything) = await MakeTokenAsync(other, "b-all", "Everything");
        var (readOnlyId, readOnly) = await MakeTokenAsync(other, "b-read", "ReadOnly");
        await using var all = await TokenContextAsync(everything);
        await using var read = await TokenContextAsync(readOnly);
        foreach (var (takes, id) in foreign)
        {
            await ProbeAsync(other, takes, id, foreignFile, secrets, all);
        }

        var api = Table.Keys.Where(k => k.StartsWith("endpoint ", StringComparison.Ordinal) && k.Split(' ')[2].StartsWith("/api/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(api);
        foreach (var key in api.Where(k => k.Split(' ')[1] is not ("GET" or "GET,HEAD" or "*")))
        {
            Assert.StartsWith("403 ", await AnswerAsync(read, key.Split(' ')[1], PathOf(key, Guid.NewGuid()), Table[key].Body?.Invoke(Guid.Empty), []));
        }

        Assert.Equal(204, (await other.APIRequest.DeleteAsync($"/api/tokens/{readOnlyId}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        Assert.Equal(204, (await other.APIRequest.DeleteAsync($"/api/tokens/{everythingId}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        foreach (var key in api)
        {
            var method = key.Split(' ')[1] is "GET,HEAD" or "*" ? "GET" : key.Split(' ')[1];
            Assert.True((await AnswerAsync(all, method, PathOf(key, Guid.NewGuid()), Table[key].Body?.Invoke(Guid.Empty), [])).StartsWith("401 ", StringComparison.Ordinal),
                $"{key} took a revoked token");
        }

        Assert.StartsWith("401 ", await AnswerAsync(read, "GET", "/api/vms", null, []));
    }

    private static async Task<(Guid Id, string Token)> MakeTokenAsync(IPage page, string name, string scope)
    {
        var made = await page.APIRequest.PostAsync("/api/tokens", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, days = 1, scope } });
        Assert.True(made.Status == 201, await made.TextAsync());
        var answer = (await made.JsonAsync())!.Value;
        return (answer.GetProperty("id").GetGuid(), answer.GetProperty("token").GetString()!);
    }

    /// <summary>A request context with no cookie that sends <paramref name="token"/> as its bearer.</summary>
    private Task<IAPIRequestContext> TokenContextAsync(string token) =>
        paddock.Playwright.APIRequest.NewContextAsync(new()
        {
            BaseURL = paddock.PortalUrl,
            IgnoreHTTPSErrors = true,
            ExtraHTTPHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        });
}
