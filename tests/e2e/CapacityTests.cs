using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>The capacity dashboard's measured side: what QEMU uses, and KSM following the host's RAM ratio.</summary>
[Collection(PaddockCollection.Name)]
public sealed class CapacityTests(PaddockFixture paddock)
{
    private const string KsmRun = "/sys/kernel/mm/ksm/run";

    [Fact]
    public async Task The_dashboard_shows_what_QEMU_uses_and_a_RAM_ratio_above_one_switches_KSM_on()
    {
        var (_, vmId) = await paddock.CarolsRunningVmAsync();
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var hostId = (await (await admin.APIRequest.GetAsync("/api/capacity")).JsonAsync())!.Value.EnumerateArray()
            .Single(h => h.GetProperty("name").GetString() == "e2e-host").GetProperty("id").GetGuid();
        await admin.GotoAsync("/admin/capacity");
        await PaddockFixture.InteractiveAsync(admin);

        // The agent reports its QEMU processes' resident memory every few seconds: Carol's VM runs there.
        await Assertions.Expect(admin.GetByLabel("Usage of e2e-host", new() { Exact = true }))
            .ToContainTextAsync(new System.Text.RegularExpressions.Regex("[1-9][0-9]* MiB RSS"), new() { Timeout = 30_000 });

        var initial = File.Exists(KsmRun) ? (await File.ReadAllTextAsync(KsmRun)).Trim() : null;
        try
        {
            if (initial is null)
            {
                // No KSM in this kernel: the host says why instead.
                await SetRamRatioAsync(admin, hostId, 1.5);
                await Assertions.Expect(admin.GetByLabel("KSM of e2e-host", new() { Exact = true }))
                    .ToContainTextAsync("KSM is not available", new() { Timeout = 30_000 });
                return;
            }

            await File.WriteAllTextAsync(KsmRun, "0");
            await SetRamRatioAsync(admin, hostId, 1.5);
            await Eventually.Async(async () => (await File.ReadAllTextAsync(KsmRun)).Trim() == "1", TimeSpan.FromSeconds(30), "KSM switched on");
            await Assertions.Expect(admin.GetByLabel("KSM of e2e-host", new() { Exact = true })).ToContainTextAsync("on;", new() { Timeout = 30_000 });
            // The ratio widens the host's capacity: (physical - 512 reserved) x 1.5.
            var host = (await (await admin.APIRequest.GetAsync("/api/capacity")).JsonAsync())!.Value.EnumerateArray()
                .Single(h => h.GetProperty("id").GetGuid() == hostId);
            Assert.Equal((long)Math.Floor((host.GetProperty("memoryMiB").GetInt64() - 512) * 1.5),
                host.GetProperty("capacity").GetProperty("memoryMiB").GetInt64());
            await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "capacity-ksm.png"), FullPage = true });

            // Back to the fleet's ratio of 1.0: the agent switches off what it switched on.
            Assert.Equal(204,
                (await admin.APIRequest.PutAsync($"/api/hosts/{hostId}/policy",
                    new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = (object?)null } })).Status);
            await Eventually.Async(async () => (await File.ReadAllTextAsync(KsmRun)).Trim() == "0", TimeSpan.FromSeconds(30), "KSM switched off");
        }
        finally
        {
            await admin.APIRequest.PutAsync($"/api/hosts/{hostId}/policy",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = (object?)null } });
            if (initial is not null)
            {
                await File.WriteAllTextAsync(KsmRun, initial);
            }

            await admin.Context.CloseAsync();
        }

        Assert.NotEqual(Guid.Empty, vmId);
    }

    private static async Task SetRamRatioAsync(IPage admin, Guid hostId, double ratio)
    {
        var set = await admin.APIRequest.PutAsync($"/api/hosts/{hostId}/policy",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = new { ramRatio = ratio } } });
        Assert.True(set.Status == 204, await set.TextAsync());
    }
}
