using System.Net.Sockets;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// A port forward, added on the VM page, reaches the guest's listener from this machine at the
/// address the page shows; another tenant gets 404 for it; once deleted, nothing answers there.
/// </summary>
public sealed partial class TenantNetworkTests
{
    private async Task ForwardAsync(IPage nell, IPage noor, Guid web)
    {
        await nell.GotoAsync($"/vms/{web}");
        await PaddockFixture.InteractiveAsync(nell);
        await nell.GetByRole(AriaRole.Heading, new() { Name = "Port forwards" }).WaitForAsync();
        var add = nell.GetByRole(AriaRole.Button, new() { Name = "Add forward to net0" });

        // Field errors beside their fields: no guest port; a host port outside the admins' range.
        await add.ClickAsync();
        await Assertions.Expect(nell.GetByText("Guest port: from 1 to 65535.")).ToBeVisibleAsync();
        await nell.GetByLabel("Guest port of net0").FillAsync("80");
        await nell.GetByLabel("Host port of net0").FillAsync("80");
        await add.ClickAsync();
        await Assertions.Expect(nell.GetByText("Host port: from ")).ToBeVisibleAsync();
        await nell.GetByLabel("Host port of net0").FillAsync("");
        await add.ClickAsync();

        var shown = nell.GetByLabel("Address of tcp 80 on net0");
        await Assertions.Expect(shown).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\S+:\d+$"));
        var reach = (await shown.TextContentAsync())!.Trim();
        await nell.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "vm-port-forwards.png"), FullPage = true });
        await Eventually.Async(async () => (await GetAsync(reach))?.Contains("page-of-nell", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(60), $"the guest's page through {reach}");

        // The API lists it for its owner; another tenant's view of the VM's forwards is a 404, as for a VM that does not exist.
        var listed = (await (await nell.APIRequest.GetAsync($"/api/vms/{web}/forwards")).JsonAsync())!.Value;
        var id = Assert.Single(listed.EnumerateArray()).GetProperty("id").GetString();
        Assert.Equal(404, (await noor.APIRequest.GetAsync($"/api/vms/{web}/forwards")).Status);
        Assert.Equal(404, (await noor.APIRequest.DeleteAsync($"/api/vms/{web}/forwards/{id}", new() { Headers = PaddockFixture.ApiHeaders })).Status);

        await nell.GetByRole(AriaRole.Button, new() { Name = "Delete forward tcp 80 of net0" }).ClickAsync();
        await nell.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(shown).ToHaveCountAsync(0);
        await Eventually.Async(async () => await GetAsync(reach) is null, TimeSpan.FromSeconds(60), $"nothing answering at {reach} any more");
    }

    /// <summary>A forward of the VM's port 80, through the API, once it answers; its address.</summary>
    private static async Task<string> AddForwardAsync(IPage owner, Guid vm)
    {
        var added = await owner.APIRequest.PostAsync($"/api/vms/{vm}/forwards",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { nicId = "net0", guestPort = 80 } });
        Assert.True(added.Status == 201, await added.TextAsync());
        var reach = (await added.JsonAsync())!.Value.GetProperty("reach").GetString()!;
        await Eventually.Async(async () => (await GetAsync(reach))?.Contains("page-of-nell", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(60), $"the guest's page through {reach}");
        return reach;
    }

    /// <summary>
    /// After a migration the forward is the new host's: its table DNATs the port (the same one, free
    /// there) and the old host's no longer does. Not fetched through: both agents here share one
    /// kernel, and two hosts carrying one network give its namespaces the same transit address, so
    /// the root's route to it is whichever agent set it last (on two machines each has its own).
    /// </summary>
    private static async Task FollowsAsync(IPage owner, Guid vm, string before, string oldPrefix, string newPrefix)
    {
        await Eventually.Async(async () =>
        {
            var reach = (await (await owner.APIRequest.GetAsync($"/api/vms/{vm}/forwards")).JsonAsync())!.Value[0].GetProperty("reach").GetString()!;
            var rule = $"tcp dport {reach.Split(':')[1]} dnat ip to ";
            return reach == before && (await TableAsync(newPrefix)).Contains(rule, StringComparison.Ordinal) && !(await TableAsync(oldPrefix)).Contains(rule, StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(60), $"the forward {before} of the moved VM on its new host only");
    }

    /// <summary>An agent's root table as nft lists it; empty when it has none.</summary>
    private static async Task<string> TableAsync(string prefix)
    {
        using var nft = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("nft", ["list", "table", "inet", $"{prefix}_host"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var text = await nft.StandardOutput.ReadToEndAsync();
        await nft.WaitForExitAsync();
        return nft.ExitCode == 0 ? text : "";
    }

    /// <summary>The page at host:port over plain HTTP, or null when nothing answers there.</summary>
    private static async Task<string?> GetAsync(string reach)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            return await http.GetStringAsync($"http://{reach}/");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException)
        {
            return null;
        }
    }
}
