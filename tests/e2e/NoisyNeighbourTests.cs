using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>A flavor's noisy-neighbour limits reach the VM's cgroup and QEMU's throttle group; the admin sets the balloon.</summary>
[Collection(PaddockCollection.Name)]
public sealed class NoisyNeighbourTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_flavors_cpu_and_disk_limits_are_applied_or_said_not_to_be_and_only_admins_set_the_balloon_above_its_floor()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var flavor = $"quiet-{Guid.NewGuid().ToString("N")[..4]}";
        await admin.GotoAsync("/admin/flavors");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("Flavor name").FillAsync(flavor);
        await admin.GetByLabel("Flavor memory (MiB)").FillAsync("256");
        await admin.GetByLabel("Flavor disk (MiB)").FillAsync("256");
        await admin.GetByLabel("CPU weight").FillAsync("50");
        await admin.GetByLabel("CPU cap (%)").FillAsync("50");
        await admin.GetByLabel("Disk IOPS").FillAsync("200");
        await admin.GetByLabel("Balloon floor (MiB)").FillAsync("128");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create flavor" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Flavors" }))
            .ToContainTextAsync("CPU weight 50, CPU cap 50%, 200 IOPS, balloon floor 128 MiB");

        var pia = await paddock.SignInAsync(PaddockFixture.Pia);
        var flavorId = (await (await pia.APIRequest.GetAsync("/api/flavors")).JsonAsync())!.Value.EnumerateArray()
            .Single(f => f.GetProperty("name").GetString() == flavor).GetProperty("id").GetGuid();
        var created = await pia.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "quiet-vm", vCpus = 1, memoryMiB = 256, flavorId } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(pia, vmId);

        // The agent says what it applied, and what it could not, on the VM's page.
        await admin.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(admin);
        var note = admin.GetByLabel("Limits on the host");
        await Assertions.Expect(note).ToContainTextAsync("200 IOPS (QEMU throttle group", new() { Timeout = 30_000 });
        var text = await note.InnerTextAsync();
        var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(paddock.VmsDir, vmId.ToString(), "qemu", "qemu.pid"))).Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
        if (text.Contains("Applied: CPU weight 50, CPU cap 50% (cgroup v1 ", StringComparison.Ordinal))
        {
            var dir = $"/sys/fs/cgroup/cpu/paddock/{vmId}";
            Assert.Equal("512", (await File.ReadAllTextAsync($"{dir}/cpu.shares")).Trim());
            Assert.Equal("50000", (await File.ReadAllTextAsync($"{dir}/cpu.cfs_quota_us")).Trim());
            Assert.Contains(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), await File.ReadAllLinesAsync($"{dir}/cgroup.procs"));
        }
        else if (text.Contains("Applied: CPU weight 50, CPU cap 50% (cgroup v2 ", StringComparison.Ordinal))
        {
            var dir = $"/sys/fs/cgroup/paddock/{vmId}";
            Assert.Equal("50", (await File.ReadAllTextAsync($"{dir}/cpu.weight")).Trim());
            Assert.Equal("50000 100000", (await File.ReadAllTextAsync($"{dir}/cpu.max")).Trim());
            Assert.Contains(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), await File.ReadAllLinesAsync($"{dir}/cgroup.procs"));
        }
        else
        {
            // No writable cpu controller on this machine: the host says so instead of pretending.
            Assert.Contains("Not applied: CPU weight 50, CPU cap 50%: ", text);
        }

        // The balloon: admins only, never below the flavor's floor.
        var member = await pia.APIRequest.PostAsync($"/api/vms/{vmId}/hardware",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { action = "SetBalloon", sizeMiB = 192 } });
        Assert.Equal(403, member.Status);
        Assert.Contains("Only admins set a VM's balloon.", await member.TextAsync());
        var tooSmall = await admin.APIRequest.PostAsync($"/api/vms/{vmId}/hardware",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { action = "SetBalloon", sizeMiB = 100 } });
        Assert.Equal(422, tooSmall.Status);
        Assert.Contains("Balloon: between 128 MiB (the flavor's floor) and the VM's 256 MiB.", await tooSmall.TextAsync());
        await admin.GetByLabel("Balloon target (MiB)").FillAsync("192");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Set balloon" }).ClickAsync();
        await Assertions.Expect(admin.GetByLabel("Balloon target", new() { Exact = true })).ToHaveTextAsync("192 MiB of 256 MiB", new() { Timeout = 30_000 });
        await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "limits.png"), FullPage = true });

        Assert.Equal(202, (await pia.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(pia, vmId) == "Stopped", PaddockFixture.Boot, "the VM to stop");
        await Eventually.Async(
            async () => (await pia.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status == 202,
            TimeSpan.FromSeconds(30), "the delete accepted");
        await Eventually.Async(async () => (await pia.APIRequest.GetAsync($"/api/vms/{vmId}")).Status == 404, PaddockFixture.Boot, "the VM deleted");
        Assert.False(Directory.Exists($"/sys/fs/cgroup/cpu/paddock/{vmId}"), "the VM's cgroup is removed with it");
        Assert.False(Directory.Exists($"/sys/fs/cgroup/memory/paddock/{vmId}") || Directory.Exists($"/sys/fs/cgroup/pids/paddock/{vmId}")
            || Directory.Exists($"/sys/fs/cgroup/paddock/{vmId}"),
            "the VM's memory and pids cgroups are removed with it");
        await admin.Context.CloseAsync();
        await pia.Context.CloseAsync();
    }
}
