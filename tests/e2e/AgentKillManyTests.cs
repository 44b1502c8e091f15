using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Paddock.Testing;

namespace Paddock.E2e;

/// <summary>
/// Issue #20: an agent killed (-9) while it holds 20 VMs. A host of its own (an agent with its own data
/// directory) takes 20 VMs of one member; each is paused once it runs, so that 20 guests booting
/// under TCG do not take the CI machine's two cores (the QEMUs live on, as running ones do; the agent
/// re-attaches a paused QEMU as it does a running one, and <c>./paddock bench reattach</c> does it with
/// 20 running guests). The agent is killed and started again: all 20 QEMUs live on with the same
/// pids, the new agent re-attaches them at once and says how long it took, and the portal shows every
/// VM Paused again; each is then powered off and deleted through the new agent.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class AgentKillManyTests(PaddockFixture paddock) : IAsyncLifetime
{
    private const int Count = 20;
    private const string HostName = "e2e-host-many";
    private const string Agent = "agent-many";

    private string AgentDir => Path.Combine(paddock.DataDir, Agent);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>The agent powers off what is left as it stops; the run's first host takes VMs again.</summary>
    public async Task DisposeAsync()
    {
        await paddock.StopAgentAsync(Agent);
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await PaddockFixture.MaintenanceAsync(admin, await paddock.HostIdAsync("e2e-host"), on: false);
        await admin.Context.CloseAsync();
    }

    [Fact]
    public async Task An_agent_killed_with_20_vms_finds_all_20_qemus_alive_and_reattaches_them()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var quota = await admin.APIRequest.PutAsync($"/api/quotas/users/{PaddockFixture.Rex}", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { limits = new { vms = Count, vCpus = Count, memoryMiB = Count * 128, diskMiB = Count * 4096 } },
        });
        Assert.True(quota.Ok, $"quota: {quota.Status} {await quota.TextAsync()}");
        paddock.InstallBuiltInTemplate(AgentDir);
        var startedAt = DateTimeOffset.UtcNow;
        var token = await paddock.JoinTokenAsync(HostName);
        paddock.StartExtraAgent(Agent, HostName, AgentDir, token, memoryMiB: 1 << 20, cpus: 64);
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: startedAt) > 0, TimeSpan.FromSeconds(60), "the host to register");
        // Twenty one-vCPU VMs on this machine's two cores: a CPU ratio of 16 lets them in.
        var policy = await admin.APIRequest.PutAsync($"/api/hosts/{await paddock.HostIdAsync(HostName)}/policy",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { policy = new { cpuRatio = 16.0 } } });
        Assert.True(policy.Ok, $"host policy: {policy.Status} {await policy.TextAsync()}");
        var mainHost = await paddock.HostIdAsync("e2e-host");
        await PaddockFixture.MaintenanceAsync(admin, mainHost, on: true);

        var rex = await paddock.SignInAsync(PaddockFixture.Rex);
        List<Guid> vms = [];
        try
        {
            // A few at a time: guests that boot all at once would slow every create down.
            foreach (var batch in Enumerable.Range(1, Count).Chunk(4))
            {
                vms.AddRange(await Task.WhenAll(batch.Select(i => CreatePausedAsync(rex, $"many-{i:00}"))));
            }

            await PaddockFixture.MaintenanceAsync(admin, mainHost, on: false);
            var pids = vms.ToDictionary(vm => vm, Pid);

            var logLength = new FileInfo(Path.Combine(paddock.Artifacts, $"{Agent}.log")).Length;
            await paddock.KillProcessAsync(Agent);
            var killedAt = DateTimeOffset.UtcNow;
            var recovery = Stopwatch.StartNew();
            paddock.StartExtraAgent(Agent, HostName, AgentDir, token, memoryMiB: 1 << 20, cpus: 64);
            await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(120), "the new agent to register");
            await Eventually.Async(async () => (await Task.WhenAll(vms.Select(vm => PaddockFixture.IdleStatusAsync(rex, vm)))).All(s => s == "Paused"),
                TimeSpan.FromSeconds(60), "every VM shown Paused again");
            recovery.Stop();

            var lost = vms.Count(vm => Pid(vm) != pids[vm] || !Directory.Exists($"/proc/{pids[vm]}"));
            var reattached = ReattachLine().Match(NewLog(logLength));
            paddock.RecordFaults(new FaultRow($"agent kill -9 with {Count} VMs (paused)", 1, 0, 0, lost, Duplicated: 0, Lost: 0, [recovery.Elapsed]));
            Assert.Equal(0, lost);
            Assert.True(reattached.Success, "the new agent says how long its re-attach took");
            Assert.Equal($"{Count}", reattached.Groups["of"].Value);

            // Each obeys the new agent: powered off and deleted, all at once.
            await Task.WhenAll(vms.Select(vm => VmApi.DeleteAsync(rex, vm)));
            Assert.All(vms, vm => Assert.False(Directory.Exists($"/proc/{pids[vm]}"), $"VM {vm}'s QEMU still runs"));
            Assert.Empty(await paddock.DuplicatedCompletionsAsync());
        }
        finally
        {
            foreach (var vm in vms)
            {
                await VmApi.LeaveNoVmAsync(rex, vm);
            }

            await rex.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    /// <summary>Creates a VM, and pauses it as soon as it runs (its guest stops wherever its boot is).</summary>
    private static async Task<Guid> CreatePausedAsync(IPage page, string name)
    {
        var created = await page.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, vCpus = 1, memoryMiB = 128, nics = new[] { new { isolated = true } } } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var id = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(page, id);
        await VmApi.PowerAsync(page, id, "pause", "Paused");
        return id;
    }

    private int Pid(Guid vm) => int.Parse(File.ReadAllText(Path.Combine(AgentDir, "vms", vm.ToString(), "qemu", "qemu.pid")).Trim());

    /// <summary>What the agent logged after <paramref name="from"/> bytes (its earlier runs' lines before that).</summary>
    private string NewLog(long from)
    {
        using var log = new FileStream(Path.Combine(paddock.Artifacts, $"{Agent}.log"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        log.Seek(from, SeekOrigin.Begin);
        return new StreamReader(log).ReadToEnd();
    }

    [GeneratedRegex(@"Re-attached \d+ running VMs of (?<of>\d+) in (?<ms>\d+) ms")]
    private static partial Regex ReattachLine();
}
