using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class AgentRestartTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_vm_keeps_running_when_its_agent_is_killed_and_the_new_agent_reattaches_to_it()
    {
        var (page, vmId) = await paddock.CarolsRunningVmAsync();
        var pidFile = Path.Combine(paddock.VmsDir, vmId.ToString(), "qemu.pid");
        var qemu = int.Parse(File.ReadAllText(pidFile).Trim());

        var killedAt = DateTimeOffset.UtcNow;
        var oldAgent = await paddock.KillAndRestartAgentAsync();

        // QEMU runs in its own session: the agent's death did not take it along.
        Assert.True(File.Exists($"/proc/{qemu}/status"));
        Assert.DoesNotContain("State:\tZ", File.ReadAllText($"/proc/{qemu}/status"));
        Assert.NotEqual(oldAgent, qemu);

        // The new agent registers, re-attaches through the run directory and reports the truth.
        await Eventually.Async(async () => await paddock.ConnectedHostsAsync(since: killedAt) > 0, TimeSpan.FromSeconds(60), "the new agent to register");
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Status" })).ToHaveTextAsync("Running");
        Assert.Equal(qemu, int.Parse(File.ReadAllText(pidFile).Trim()));

        // It can still act on the VM: the console works through the new agent.
        await page.GetByRole(AriaRole.Link, new() { Name = "Console", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status, new() { Name = "Console state" })).ToHaveTextAsync("Connected", new() { Timeout = 30_000 });
        await page.GetByRole(AriaRole.Link, new() { Name = "Back to the VM" }).ClickAsync();
    }
}
