namespace Paddock.E2e;

/// <summary>
/// Bad input gets 4xx, never 5xx: every page, endpoint and hub the portal maps (asked of the portal
/// itself, with the parameters each takes) is sent hostile values in its route values, query, headers
/// and body, as a member and anonymously; <see cref="FuzzRunner"/> judges the answers (no 5xx, a
/// problem detail for a program's 4xx, nothing of the portal's insides, no hostile value echoed).
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class FuzzTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Hostile_input_on_every_route_gets_a_4xx_without_internals_or_an_echo()
    {
        var routes = await FuzzRunner.RoutesAsync(paddock);
        var member = await paddock.SignInAsync(PaddockFixture.Fuzzy);
        var cookie = (await member.Context.CookiesAsync()).Single(c => c.Name == "__Host-paddock");
        var signedIn = new FuzzCaller("member", Cookie: $"{cookie.Name}={cookie.Value}");
        var cases = routes.SelectMany(r => FuzzCases.For(r, signedIn: true).Select(c => (signedIn, c)))
            .Concat(routes.SelectMany(r => FuzzCases.For(r, signedIn: false).Select(c => (FuzzCaller.Anonymous, c))))
            .ToList();

        using var http = paddock.NewHttpClient();
        http.Timeout = TimeSpan.FromSeconds(30);
        var outcome = await FuzzRunner.RunAsync(http, cases);
        Console.WriteLine(outcome.Summary);
        outcome.AssertClean();

        // The member's session outlived it all: nothing above signed it out or broke it.
        var still = await FuzzRunner.SendAsync(http, signedIn, new FuzzCase("GET", "/api/vms", "the session afterwards"));
        Assert.Equal(200, still.Status);
        await member.Context.CloseAsync();
    }

    [Theory]
    [InlineData("\t/evil")]
    [InlineData("//evil")]
    [InlineData("/\\evil")]
    [InlineData("/%2F%2Fevil")]
    [InlineData("%2F%2Fevil")]
    [InlineData("/%5Cevil")]
    [InlineData("\\\\evil")]
    [InlineData("https://evil.example/")]
    [InlineData("/\t/evil")]
    [InlineData("/\r\n/evil")]
    public async Task Sign_in_with_a_hostile_return_url_lands_on_the_portal(string returnUrl)
    {
        var context = await paddock.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync($"/account/login?returnUrl={Uri.EscapeDataString(returnUrl)}");
        await page.GetByLabel("User name").FillAsync(PaddockFixture.Fuzzy);
        await page.GetByLabel("Password").FillAsync(paddock.Password);
        var answer = await page.RunAndWaitForResponseAsync(
            () => page.GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = "Sign in" }).ClickAsync(),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/account/login", StringComparison.Ordinal));
        Assert.Equal(302, answer.Status);
        var location = answer.Headers["location"];
        Assert.StartsWith("/", location);
        Assert.False(location.StartsWith("//", StringComparison.Ordinal) || location.StartsWith("/\\", StringComparison.Ordinal), location);
        Assert.DoesNotContain('\t', location);
        Assert.DoesNotContain('\\', location);
        await context.CloseAsync();
    }
}
