using System.Net.WebSockets;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class AccountTests(PaddockFixture paddock)
{
    private const string NinaPassword = "nina-first-password";

    [Fact]
    public async Task Disabling_a_user_ends_their_open_page_and_console_within_30_seconds_and_keeps_them_out_until_enabled()
    {
        var admin = await AdminCreatesAsync("nina", NinaPassword);

        // Nina, with a running VM, its page open and its serial console connected.
        var nina = await paddock.SignInAsync("nina", NinaPassword);
        var vmId = await PaddockFixture.CreateVmAsync(nina, "nina-vm");
        await PaddockFixture.RunningAndIdleAsync(nina, vmId);
        var ticket = await PaddockFixture.ConsoleTicketAsync(nina, vmId, "serial");
        using var console = await paddock.OpenConsoleAsync(nina, $"/console/{vmId}/serial?ticket={Uri.EscapeDataString(ticket)}", paddock.PortalUrl);
        Assert.NotNull(console);
        var closed = DrainUntilClosedAsync(console);
        Assert.False(closed.IsCompleted, "the console is open");

        await admin.GetByRole(AriaRole.Button, new() { Name = "Disable nina" }).ClickAsync();
        await admin.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Disable" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Cell, new() { Name = "State of nina" })).ToHaveTextAsync("Disabled");
        var disabledAt = DateTimeOffset.UtcNow;

        // The console socket closes, and the open page goes to the sign-in page by itself.
        await closed.WaitAsync(TimeSpan.FromSeconds(30));
        await nina.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/account/login"), new() { Timeout = 30_000 });
        Assert.True(DateTimeOffset.UtcNow - disabledAt < TimeSpan.FromSeconds(30), "both ended within 30 s");

        // The right password is not enough while disabled; once enabled it is.
        var refused = await paddock.TrySignInAsync("nina", NinaPassword);
        await Assertions.Expect(refused.GetByRole(AriaRole.Alert)).ToHaveTextAsync("This account is disabled. Ask an admin.");
        await refused.Context.CloseAsync();
        await admin.GetByRole(AriaRole.Button, new() { Name = "Enable nina" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Cell, new() { Name = "State of nina" })).ToHaveTextAsync("Active");
        var back = await paddock.SignInAsync("nina", NinaPassword);

        // Nina changes her own password: the old one stops working, the new one works.
        await back.GotoAsync("/account/password");
        await back.GetByLabel("Current password").FillAsync(NinaPassword);
        await back.GetByLabel("New password (at least 12 characters)").FillAsync("nina-second-password");
        await back.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
        await Assertions.Expect(back.GetByRole(AriaRole.Status)).ToContainTextAsync("Your password is changed");
        var old = await paddock.TrySignInAsync("nina", NinaPassword);
        await Assertions.Expect(old.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Wrong user name or password.");
        await old.Context.CloseAsync();
        var renewed = await paddock.SignInAsync("nina", "nina-second-password");

        Assert.Equal(202, (await renewed.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(renewed, vmId) == "Stopped", TimeSpan.FromSeconds(60), "the VM to stop");
        Assert.Equal(202, (await renewed.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        foreach (var page in new[] { admin, nina, back, renewed })
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task Repeated_failed_sign_ins_slow_down_then_lock_the_account_until_an_admin_lifts_the_lock()
    {
        var admin = await AdminCreatesAsync("olga", "olga-right-password");

        var page = await paddock.TrySignInAsync("olga", "wrong-1");
        await paddock.TrySignInAsync("olga", "wrong-2", page);
        await paddock.TrySignInAsync("olga", "wrong-3", page);
        // From the third failure on, attempts are spaced out (1 s, then 2 s): on a loaded machine a
        // page's round trip may outlast the first spacing, so the next attempt must meet the second.
        var spaced = false;
        for (var attempt = 4; attempt <= 5 && !spaced; attempt++)
        {
            await paddock.TrySignInAsync("olga", $"wrong-{attempt}", page);
            spaced = (await page.GetByRole(AriaRole.Alert).InnerTextAsync()).Contains("Too many failed sign-ins: wait", StringComparison.Ordinal);
        }

        Assert.True(spaced, "no attempt was spaced out after the third failure");
        // The test limit locks at 5 failures.
        await Eventually.Async(async () =>
        {
            await paddock.TrySignInAsync("olga", "wrong-again", page);
            return (await page.GetByRole(AriaRole.Alert).InnerTextAsync()).Contains("locked", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30), "the lock");

        // Locked, even the right password is refused; the admin sees the lock and lifts it.
        await paddock.TrySignInAsync("olga", "olga-right-password", page);
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("signing in is locked");
        await admin.ReloadAsync();
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Lift the lock on user:olga" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Sign-in locks" })).ToHaveCountAsync(0);
        await paddock.TrySignInAsync("olga", "olga-right-password", page);
        await PaddockFixture.LandsOnAsync(page, $"^{System.Text.RegularExpressions.Regex.Escape(paddock.PortalUrl)}/$");

        // The audit log has every step, filtered by user and kind.
        await admin.GotoAsync("/admin/audit");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("User").FillAsync("olga");
        await admin.GetByLabel("Kind").ClickAsync();
        await admin.GetByRole(AriaRole.Option, new() { Name = "Failed sign-in" }).ClickAsync();
        await admin.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        var failures = admin.GetByRole(AriaRole.Table, new() { Name = "Audit" }).Locator("tbody tr");
        await Assertions.Expect(failures).ToHaveCountAsync(5);
        await Assertions.Expect(failures.First).ToContainTextAsync("wrong user name or password from");
        await admin.GetByLabel("Kind").ClickAsync();
        await admin.GetByRole(AriaRole.Option, new() { Name = "Any" }).ClickAsync();
        await admin.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Audit" })).ToContainTextAsync("refused from");
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Audit" })).ToContainTextAsync("signed in from");

        await page.Context.CloseAsync();
        await admin.Context.CloseAsync();
    }

    /// <summary>The admin, signed in on the users page, creates an account with a typed password.</summary>
    private async Task<IPage> AdminCreatesAsync(string user, string password)
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/users");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("New user name").FillAsync(user);
        await admin.GetByLabel("Password (empty: generate one)").FillAsync(password);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create user" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Status)).ToContainTextAsync($"Created {user}.");
        return admin;
    }

    /// <summary>Reads (and drops) what the console sends until the server ends the socket.</summary>
    private static async Task DrainUntilClosedAsync(ClientWebSocket socket)
    {
        var buffer = new byte[4096];
        try
        {
            while ((await socket.ReceiveAsync(buffer, CancellationToken.None)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (WebSocketException)
        {
            // The connection went away: ended all the same.
        }
    }
}
