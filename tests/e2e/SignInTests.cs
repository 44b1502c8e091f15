using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class SignInTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Wrong_credentials_get_one_generic_message_for_unknown_users_and_wrong_passwords()
    {
        var context = await paddock.NewContextAsync();
        var page = await context.NewPageAsync();
        var messages = new List<string>();
        foreach (var (user, password) in new[] { (PaddockFixture.Alice, "wrong-password-123"), ("nobody-here", paddock.Password) })
        {
            await page.GotoAsync("/account/login");
            await page.GetByLabel("User name").FillAsync(user);
            await page.GetByLabel("Password").FillAsync(password);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            messages.Add(await page.GetByRole(AriaRole.Alert).InnerTextAsync());
        }

        Assert.Equal("Wrong user name or password.", messages[0]);
        Assert.Equal(messages[0], messages[1]);

        // Pages need a signed-in user: the list sends a stranger to sign in.
        await page.GotoAsync("/");
        Assert.Contains("/account/login", page.Url);
        await context.CloseAsync();
    }
}
