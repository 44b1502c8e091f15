using System.Net;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Cookies and anti-forgery tokens are protected with keys that every portal process shares
/// through the database: a second portal with a home directory of its own (where ASP.NET Core
/// would otherwise keep a key ring of its own) honours a sign-in made through the first.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class KeyRingTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_sign_in_made_through_one_portal_holds_on_another_that_has_a_home_of_its_own()
    {
        var home = Directory.CreateTempSubdirectory("paddock-portal-home-");
        var url = await paddock.StartSecondPortalAsync(new Dictionary<string, string> { ["HOME"] = home.FullName }, process: "portal-keyring");
        try
        {
            var member = await paddock.SignInAsync(PaddockFixture.Fuzzy);

            // The same browser (cookies go to any port of 127.0.0.1): the other portal's page, signed in, not its sign-in form.
            await member.GotoAsync($"{url}/");
            await PaddockFixture.InteractiveAsync(member);
            await Assertions.Expect(member.GetByRole(AriaRole.Heading, new() { Name = "My VMs" })).ToBeVisibleAsync();
            Assert.DoesNotContain("/account/login", member.Url, StringComparison.Ordinal);

            // Its sign-in form's anti-forgery token (and cookie) is honoured by the first portal: a redirect home, not a 400.
            using (var script = paddock.NewHttpClient())
            {
                var form = await script.GetStringAsync(new Uri($"{url}/account/login"));
                using var signIn = await script.PostAsync(new Uri($"{paddock.PortalUrl}/account/login"),
                    PaddockFixture.SignInForm(PaddockFixture.FormToken(form), PaddockFixture.Fuzzy, paddock.Password));
                Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
                Assert.Equal("/", signIn.Headers.Location?.OriginalString);
            }

            // And the API through it.
            using var api = await paddock.ApiClientAsAsync(member, url);
            Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/vms")).StatusCode);

            // It kept no key of its own.
            var keys = Path.Combine(home.FullName, ".aspnet", "DataProtection-Keys");
            Assert.False(Directory.Exists(keys) && Directory.EnumerateFiles(keys).Any(), "the second portal made a key ring in its home directory");
            await member.Context.CloseAsync();
        }
        finally
        {
            await paddock.StopAgentAsync("portal-keyring");
            home.Delete(recursive: true);
        }
    }
}
