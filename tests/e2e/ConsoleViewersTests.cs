using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Who watches a console: the owner sees every session (who, since when, from where, whether view
/// only), shares the screen view-only through a link, and disconnects a viewer, whose page says so
/// and does not dial again. A share link's viewer never reaches the guest, even with key events
/// sent straight down the socket past noVNC; revoking the link ends the session at once. Under the
/// take-over policy a second console with control ends the first.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class ConsoleViewersTests(PaddockFixture paddock)
{
    [Fact]
    public async Task The_owner_sees_a_view_only_viewer_whose_keys_never_reach_the_guest_and_disconnects_them_and_a_revoked_link_ends_at_once()
    {
        var owner = await paddock.SignInAsync(PaddockFixture.Viola);
        var vmId = await VmApi.CreateRunningAsync(owner, "watched-vm");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await GuestSerial.WaitForShellAsync(runDir);
        await owner.GotoAsync($"/vms/{vmId}/console");
        await PaddockFixture.InteractiveAsync(owner);
        await Assertions.Expect(owner.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        var rows = owner.GetByRole(AriaRole.Table, new() { Name = "Console viewers" }).Locator("tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToContainTextAsync($"{PaddockFixture.Viola} (you)");

        await owner.GetByRole(AriaRole.Button, new() { Name = "Make share link" }).ClickAsync();
        var link = owner.GetByLabel("Share link");
        await Assertions.Expect(link).ToHaveValueAsync(SharePath());
        var url = await link.InputValueAsync();

        // Walt is a stranger to the VM: its console is not found for him, the link shows him the screen.
        var viewer = await paddock.SignInAsync(PaddockFixture.Walt);
        await viewer.GotoAsync($"/vms/{vmId}/console");
        await Assertions.Expect(viewer.GetByText("Not found")).ToBeVisibleAsync();
        await viewer.AddInitScriptAsync(KeepConsoleSocket);
        await viewer.GotoAsync(url);
        await PaddockFixture.InteractiveAsync(viewer);
        var viewerState = viewer.GetByRole(AriaRole.Status, new() { Name = "Console state" });
        await Assertions.Expect(viewerState).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        var waltRow = rows.Filter(new() { HasText = PaddockFixture.Walt });
        await Assertions.Expect(waltRow).ToContainTextAsync("View only");
        await Assertions.Expect(waltRow).ToContainTextAsync("127.0.0.1");
        await owner.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "console-viewers.png") });
        var listed = (await (await owner.APIRequest.GetAsync($"/api/vms/{vmId}/console-viewers")).JsonAsync())!.Value;
        Assert.Equal(2, listed.GetArrayLength());
        Assert.Contains(listed.EnumerateArray(), v => v.GetProperty("user").GetString() == PaddockFixture.Walt && v.GetProperty("viewOnly").GetBoolean());

        // Key events straight down the viewer's socket, past noVNC's own view-only mode: q and z,
        // pressed and released. The owner then types a line; had q and z reached the guest they
        // would stand before it, and the shell would not know the command.
        int[] KeyEvent(bool down, char key) => [4, down ? 1 : 0, 0, 0, 0, 0, 0, key];
        foreach (var key in "qzqz")
        {
            await viewer.EvaluateAsync("bytes => window.consoleSocket.send(new Uint8Array(bytes))", (int[])[.. KeyEvent(true, key), .. KeyEvent(false, key)]);
        }

        var typed = await owner.APIRequest.PostAsync($"/api/vms/{vmId}/type",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { text = "echo watched-$((6*7)) > /dev/ttyS0\n" } });
        Assert.Equal(202, typed.Status);
        await Eventually.Async(() => GuestSerial.Read(Path.Combine(runDir, "serial.log")).Contains("watched-42", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "the owner's line, alone, on the serial port");

        // The owner disconnects Walt: his page says who did, and does not dial again.
        await waltRow.GetByRole(AriaRole.Button, new() { Name = $"Disconnect {PaddockFixture.Walt}" }).ClickAsync();
        await owner.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Disconnect", Exact = true }).ClickAsync();
        await Assertions.Expect(viewer.GetByTestId("console-ended")).ToHaveTextAsync($"Disconnected by {PaddockFixture.Viola}.");
        await Assertions.Expect(viewerState).ToHaveTextAsync("Ended");
        await Assertions.Expect(rows).ToHaveCountAsync(1);

        // He dials again by hand (the link still holds); the owner revokes the link and his session ends at once.
        await viewer.GetByRole(AriaRole.Button, new() { Name = "Reconnect" }).ClickAsync();
        await Assertions.Expect(viewerState).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        await owner.GetByRole(AriaRole.Table, new() { Name = "Share links" }).GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await owner.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Revoke", Exact = true }).ClickAsync();
        await Assertions.Expect(viewer.GetByTestId("console-ended")).ToHaveTextAsync("The share link was revoked or has expired.");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await viewer.GotoAsync(url);
        await Assertions.Expect(viewer.GetByRole(AriaRole.Alert)).ToContainTextAsync("This share link was revoked or has expired");

        // Under the take-over policy a second console with control ends the first, which says who took over.
        var settings = await owner.APIRequest.PutAsync($"/api/vms/{vmId}/settings", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { shutdownTimeoutSeconds = 60, restart = "Never", maxRestartsPerHour = 3, bootOrder = "disk,cdrom", consoleSharing = "TakeOver" },
        });
        Assert.True(settings.Status == 202, await settings.TextAsync());
        await Eventually.Async(async () => (await VmApi.GetAsync(owner, vmId)).GetProperty("settings").GetProperty("consoleSharing").GetString() == "TakeOver",
            TimeSpan.FromSeconds(30), "the take-over policy saved");
        var second = await owner.Context.NewPageAsync();
        await second.GotoAsync($"/vms/{vmId}/console");
        await Assertions.Expect(second.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        await Assertions.Expect(owner.GetByTestId("console-ended")).ToHaveTextAsync($"Taken over by {PaddockFixture.Viola}.");
        await Assertions.Expect(owner.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Ended");

        // The audit says who shared, disconnected and revoked.
        Assert.Equal(3L, await paddock.CountAsync("select count(*) from paddock.mt_doc_auditentry where data->>'Actor' = @user and data->>'Kind' = 'ConsoleChanged'",
            ("user", PaddockFixture.Viola)));

        await VmApi.DeleteAsync(owner, vmId);
        foreach (var page in new[] { owner, viewer })
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>Keeps the page's console WebSocket as window.consoleSocket, before any script of the page runs.</summary>
    private const string KeepConsoleSocket = """
        (() => {
          const Native = window.WebSocket;
          const Kept = function (url, protocols) {
            const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
            if (String(url).includes('/console/')) window.consoleSocket = socket;
            return socket;
          };
          Kept.prototype = Native.prototype;
          Object.assign(Kept, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
          window.WebSocket = Kept;
        })();
        """;

    [GeneratedRegex("^https://[^/]+/console-share/[0-9a-f]{48}$")]
    private static partial Regex SharePath();
}
