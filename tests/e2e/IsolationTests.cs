using System.Diagnostics;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>Every QEMU runs as its VM's own uid with seccomp on, and the admins' fleet list shows the label, uid and sandbox as the host reports them.</summary>
[Collection(PaddockCollection.Name)]
public sealed class IsolationTests(PaddockFixture paddock)
{
    [Fact]
    public async Task No_QEMU_runs_as_root_each_runs_as_its_labels_uid_under_seccomp_and_the_fleet_list_shows_it()
    {
        var (carol, vmId) = await paddock.CarolsRunningVmAsync();
        var vm = (await (await carol.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;

        // Every QEMU of this run, read from the kernel: never root, always seccomp filter mode (2).
        var pids = await PgrepAsync($"qemu-system-x86_64 -name guest=.*{paddock.DataDir}");
        Assert.NotEmpty(pids);
        foreach (var pid in pids)
        {
            var status = await File.ReadAllLinesAsync($"/proc/{pid}/status");
            Assert.NotEqual("0", Field(status, "Uid"));
            Assert.Equal("2", Field(status, "Seccomp"));
        }

        var carolPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(paddock.VmsDir, vmId.ToString(), "qemu.pid"))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var uid = Field(await File.ReadAllLinesAsync($"/proc/{carolPid}/status"), "Uid");

        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/isolation");
        await PaddockFixture.InteractiveAsync(admin);
        var row = admin.GetByRole(AriaRole.Row, new() { Name = $"Isolation of {vm.GetProperty("name").GetString()}" });
        await Assertions.Expect(row).ToContainTextAsync($"{uid} / {uid}", new() { Timeout = 30_000 });
        await Assertions.Expect(row).ToContainTextAsync("seccomp filter");
        await Assertions.Expect(row).ToContainTextAsync("DAC + seccomp");
        await Assertions.Expect(row).Not.ToContainTextAsync("differs");
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "isolation.png"), FullPage = true });
        await admin.Context.CloseAsync();
    }

    private static string Field(IEnumerable<string> status, string name) =>
        status.First(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim().Split('\t', ' ')[0];

    private static async Task<IReadOnlyList<int>> PgrepAsync(string pattern)
    {
        using var pgrep = Process.Start(new ProcessStartInfo("pgrep", ["-f", pattern]) { RedirectStandardOutput = true })!;
        var output = await pgrep.StandardOutput.ReadToEndAsync();
        await pgrep.WaitForExitAsync();
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
    }
}
