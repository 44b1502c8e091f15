using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Maintenance that empties a host, through the Capacity page: the dialog names the VM that cannot
/// move and why, the admin has it shut down, the others move live to the second host (their
/// progress on the page), and leaving maintenance brings them back.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class MaintenanceTests(PaddockFixture paddock)
{
    private const string Leaving = "e2e-host";
    private const string Other = "e2e-host-2";
    private static readonly string[] Small = ["maud-a", "maud-b", "maud-c"];

    /// <summary>Three migrations each way under TCG, two at a time.</summary>
    private static readonly TimeSpan Moves = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task Entering_maintenance_moves_the_running_VMs_away_shuts_down_the_one_that_fits_nowhere_and_leaving_brings_them_back()
    {
        // The evacuation runs in whichever portal process takes it: only the main one, that the agents dial.
        await paddock.StopSecondPortalsAsync();
        var owner = await paddock.SignInAsync(PaddockFixture.Maud);
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        // The second host has 512 MiB after its reservation: room for the three small VMs, not for the big one.
        var vms = new Dictionary<string, Guid>();
        foreach (var (name, memory) in Small.Select(n => (n, 128)).Append(("maud-big", 640)))
        {
            vms[name] = await CreateAsync(owner, name, memory);
        }

        var leftovers = new List<Guid>();
        await paddock.StartSecondAgentAsync();
        try
        {
            foreach (var id in vms.Values)
            {
                await PaddockFixture.RunningAndIdleAsync(owner, id);
                Assert.Equal(Leaving, await paddock.HostNameOfAsync(id));
            }

            await Eventually.Async(async () => await paddock.ConnectedHostsAsync() == 2, TimeSpan.FromSeconds(60), "the second host");
            // Other tests of the run leave VMs running on the first host: this test empties it, so they
            // are powered off first (and started again at the end).
            leftovers.AddRange((await paddock.RunningVmsOnAsync(Leaving)).Except(vms.Values));
            foreach (var leftover in leftovers)
            {
                await VmApi.PowerAsync(admin, leftover, "poweroff", "Stopped");
            }

            await admin.GotoAsync("/admin/capacity");
            await PaddockFixture.InteractiveAsync(admin);
            await EnterWithShutdownAsync(admin, "maud-big");

            foreach (var name in Small)
            {
                await ExpectProgressAsync(admin, name, $"moved to {Other}");
                Assert.Equal(Other, await paddock.HostNameOfAsync(vms[name]));
            }

            await ExpectProgressAsync(admin, "maud-big", "shut down");
            await Assertions.Expect(admin.GetByLabel($"State of the evacuation of {Leaving}", new() { Exact = true })).ToContainTextAsync("done: 3 moved, 1 shut down");
            Assert.Equal((Leaving, "Stopped"), (await paddock.HostNameOfAsync(vms["maud-big"]), await PaddockFixture.IdleStatusAsync(owner, vms["maud-big"])));
            await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "maintenance-evacuated.png"), FullPage = true });

            // Leaving with the bring-back (checked by default) moves the three home.
            await admin.GetByRole(AriaRole.Button, new() { Name = $"Leave maintenance on {Leaving}", Exact = true }).ClickAsync();
            var leave = admin.GetByRole(AriaRole.Dialog);
            await Assertions.Expect(leave.GetByRole(AriaRole.Checkbox, new() { Name = "Bring back the VMs its last evacuation moved away (maud-a, maud-b, maud-c)" })).ToBeCheckedAsync();
            await leave.GetByRole(AriaRole.Button, new() { Name = "Leave maintenance" }).ClickAsync();
            foreach (var name in Small)
            {
                await ExpectProgressAsync(admin, name, $"moved to {Leaving}");
                Assert.Equal(Leaving, await paddock.HostNameOfAsync(vms[name]));
            }
        }
        finally
        {
            await LeaveMaintenanceAsync(admin);
            foreach (var id in vms.Values)
            {
                await VmApi.DeleteAsync(owner, id);
            }

            foreach (var leftover in leftovers)
            {
                await VmApi.PowerAsync(admin, leftover, "start", "Running");
            }

            await paddock.StopSecondAgentAsync();
            await owner.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    /// <summary>Opens the dialog, checks what it says, has <paramref name="blocked"/> shut down, and confirms; screenshots of the dialog and the first moves.</summary>
    private async Task EnterWithShutdownAsync(IPage admin, string blocked)
    {
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Enter maintenance on {Leaving}", Exact = true }).ClickAsync();
        var dialog = admin.GetByRole(AriaRole.Dialog);
        var choice = dialog.GetByRole(AriaRole.Group, new() { Name = $"What to do with {blocked}" });
        await Assertions.Expect(choice).ToContainTextAsync("no other host has 640 MiB of memory free");
        foreach (var name in Small)
        {
            await Assertions.Expect(dialog.GetByLabel("VMs that move")).ToContainTextAsync($"{name} (128 MiB) → {Other}");
        }

        await Assertions.Expect(dialog.GetByLabel("VMs moved at a time")).ToHaveValueAsync("2");
        var enter = dialog.GetByRole(AriaRole.Button, new() { Name = "Enter maintenance" });
        await Assertions.Expect(enter).ToBeDisabledAsync();
        await choice.GetByRole(AriaRole.Radio, new() { Name = "Shut it down" }).CheckAsync();
        await dialog.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "maintenance-dialog.png") });
        await enter.ClickAsync();

        try
        {
            await admin.GetByText($"moving to {Other}").First.WaitForAsync(new() { Timeout = 60_000 });
        }
        catch (TimeoutException)
        {
            // Only the screenshot wants a move in flight; the outcome is checked after.
        }

        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "maintenance-progress.png"), FullPage = true });
    }

    private static Task ExpectProgressAsync(IPage admin, string vm, string progress) =>
        Assertions.Expect(admin.GetByLabel($"Progress of {vm}", new() { Exact = true })).ToHaveTextAsync(progress, new() { Timeout = (int)Moves.TotalMilliseconds });

    private static async Task<Guid> CreateAsync(IPage owner, string name, int memoryMiB)
    {
        var created = await owner.APIRequest.PostAsync("/api/vms", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, vCpus = 1, memoryMiB } });
        Assert.True(created.Status == 201, await created.TextAsync());
        return (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
    }

    /// <summary>Whatever the test left: the evacuation called off and ended, the host out of maintenance, so later tests place VMs on it.</summary>
    private async Task LeaveMaintenanceAsync(IPage admin)
    {
        var host = await paddock.HostIdAsync(Leaving);
        await admin.APIRequest.PostAsync($"/api/hosts/{host}/evacuation/cancel", new() { Headers = PaddockFixture.ApiHeaders });
        await Eventually.Async(async () =>
        {
            var evacuation = await admin.APIRequest.GetAsync($"/api/hosts/{host}/evacuation");
            return evacuation.Status == 404
                || (await evacuation.JsonAsync())!.Value.GetProperty("state").GetString() is "Done" or "Cancelled";
        }, Moves, "the evacuation ended");
        var left = await admin.APIRequest.PutAsync($"/api/hosts/{host}/maintenance", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { maintenance = false } });
        Assert.Equal(204, left.Status);
    }
}
