using System.Net;
using Npgsql;

namespace Paddock.E2e;

/// <summary>
/// Status codes say what happened: 401 to an anonymous API call (not the sign-in page), 403 to a
/// member on an admin route, 503 with Retry-After when the database is away; each with a problem detail.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class StatusCodeTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Api_answers_401_when_not_signed_in_and_403_to_a_member_on_admin_routes_with_a_problem_detail()
    {
        using var anonymous = paddock.NewHttpClient();
        anonymous.DefaultRequestHeaders.Add("X-Paddock-Api", "1");
        foreach (var (method, path) in new[] { ("GET", "/api/vms"), ("POST", "/api/vms"), ("GET", "/api/capacity"), ("PUT", "/api/policy"),
            ("GET", "/api/images") })
        {
            using var answer = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = Json("{}") });
            Assert.True(answer.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path}: {answer.StatusCode}");
            Assert.Null(answer.Headers.Location);
            Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
        }

        var member = await paddock.SignInAsync(PaddockFixture.Fuzzy);
        using var api = await paddock.ApiClientAsAsync(member, paddock.PortalUrl);
        foreach (var (method, path, body) in new[] { ("GET", "/api/capacity", ""), ("PUT", "/api/policy", "{\"customSizes\":false}"),
            ("PUT", "/api/quotas/users/fuzzy", "{\"limits\":{\"vms\":1000}}") })
        {
            using var answer = await api.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = body.Length > 0 ? Json(body) : null });
            Assert.True(answer.StatusCode == HttpStatusCode.Forbidden, $"{method} {path}: {answer.StatusCode}");
            Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
        }

        await member.Context.CloseAsync();
    }

    [Fact]
    public async Task Without_its_database_the_api_answers_503_with_retry_after_and_a_page_says_the_store_is_unavailable()
    {
        // A portal of this test's own reaches PostgreSQL through a proxy the test cuts: the other portal keeps its database.
        var database = new NpgsqlConnectionStringBuilder(paddock.Connection);
        await using var proxy = new CuttableProxy(database.Host!, database.Port);
        database.Host = "127.0.0.1";
        database.Port = proxy.Port;
        // A small pool, so that a burst of requests fills it and the portal says what holds it.
        database.MaxPoolSize = 4;
        var url = await paddock.StartSecondPortalAsync(process: "portal-nostore", connection: database.ConnectionString);
        try
        {
            var member = await paddock.SignInAsync(PaddockFixture.Fuzzy);
            using var api = await paddock.ApiClientAsAsync(member, url);
            Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/vms")).StatusCode);

            proxy.Cut();
            HttpResponseMessage? answer = null;
            await Eventually.Async(
                async () => (answer = await api.GetAsync("/api/vms")).StatusCode == HttpStatusCode.ServiceUnavailable,
                TimeSpan.FromSeconds(30), "503 from the portal without its database");
            Assert.Equal("application/problem+json", answer!.Content.Headers.ContentType?.MediaType);
            Assert.True(answer.Headers.RetryAfter?.Delta > TimeSpan.Zero, $"Retry-After: {answer.Headers.RetryAfter}");
            var problem = await answer.Content.ReadAsStringAsync();
            Assert.Contains("The store is unavailable", problem);
            Assert.Equal(503, System.Text.Json.JsonDocument.Parse(problem).RootElement.GetProperty("status").GetInt32());

            // A person's page: a readable sentence, not the error page or an empty 500.
            using var page = await api.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/") { Headers = { { "Accept", "text/html" } } });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, page.StatusCode);
            Assert.NotNull(page.Headers.RetryAfter);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains("<h1>The store is unavailable</h1>", html);
            Assert.DoesNotContain("   at ", html);

            // The database back: the same process answers again by itself, the API and a person's page.
            var listened = ListeningLines(paddock.LogOf("portal-nostore"));
            proxy.Mend();
            await Eventually.Async(async () => (await api.GetAsync("/api/vms")).StatusCode == HttpStatusCode.OK,
                TimeSpan.FromSeconds(60), "the portal answers again once its database is back");
            using var back = await api.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/") { Headers = { { "Accept", "text/html" } } });
            Assert.Equal(HttpStatusCode.OK, back.StatusCode);
            Assert.DoesNotContain("The store is unavailable", await back.Content.ReadAsStringAsync());

            // It listens again for changes made through other portal processes (a notice sent before that
            // is lost, by design): its My VMs shows a VM created through the first portal without a reload.
            await Eventually.Async(() => ListeningLines(paddock.LogOf("portal-nostore")) > listened, TimeSpan.FromSeconds(60), "the portal listening again");
            await member.GotoAsync($"{url}/");
            await PaddockFixture.InteractiveAsync(member);
            var created = await member.APIRequest.PostAsync($"{paddock.PortalUrl}/api/vms", new()
            {
                Headers = PaddockFixture.ApiHeaders,
                DataObject = new { name = "store-back", vCpus = 1, memoryMiB = 192, start = false, nics = new[] { new { isolated = true } } },
            });
            Assert.True(created.Status == 201, await created.TextAsync());
            var vm = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
            await Microsoft.Playwright.Assertions.Expect(member.GetByRole(Microsoft.Playwright.AriaRole.Link, new() { Name = "store-back" }))
                .ToBeVisibleAsync(new() { Timeout = 60_000 });
            await VmApi.DeleteAsync(member, vm);

            // A full pool is named in the log, with what its connections do.
            await Eventually.Async(async () =>
            {
                foreach (var burst in await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => api.GetAsync("/api/vms"))))
                {
                    burst.Dispose();
                }

                return paddock.LogOf("portal-nostore").Contains("pooled database connections are taken", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(60), "the portal to say that its pool is full");
            await member.Context.CloseAsync();
        }
        finally
        {
            await paddock.StopAgentAsync("portal-nostore");
        }
    }

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    private static int ListeningLines(string log) =>
        System.Text.RegularExpressions.Regex.Count(log, "Listening (again )?for changes made through other portal processes");
}
