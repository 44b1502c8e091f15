using Paddock.Engine.Networks;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;

namespace Paddock.Host.Networks;

/// <summary>
/// Gives a VM's QEMU its NICs on tenant networks: the networks are made first (from the NICs alone
/// if the portal has not listed them yet), then each NIC's tap is opened by the agent, put into its
/// bridge and handed to QEMU by descriptor. The agent closes its own descriptor at once: the tap
/// lives as long as QEMU holds it, and an agent that dies takes nothing of the VM's network along.
/// </summary>
public sealed class NetworkTaps(NetworkKeeper keeper)
{
    /// <summary>Before the guest first runs (QEMU started paused, or waiting for an incoming state): every NIC on a network, in its root port.</summary>
    public async Task PlugAsync(Guid vmId, VmSpec spec, QmpClient qmp, CancellationToken ct)
    {
        var ports = QemuCommandLine.TapNicPorts(spec);
        if (ports.Count == 0)
            return;
        var plan = await keeper.ReconcileAsync(ct);
        foreach (var (nic, rootPort) in ports)
            await PlugAsync(plan, vmId, nic, qmp, rootPort, ct);
    }

    /// <summary>
    /// A NIC hotplugged into a running VM: its network and walls first, then the tap into a free root
    /// port. The caller holds <see cref="Joining"/> from before this until the VM's spec names the NIC.
    /// </summary>
    public async Task<string> HotplugAsync(Guid vmId, NicSpec nic, QmpClient qmp, CancellationToken ct)
    {
        var plan = await keeper.ReconcileAsync(ct);
        return await PlugAsync(plan, vmId, nic, qmp, rootPort: null, ct);
    }

    /// <summary>Keeps a NIC being added in the host's networks and walls until its VM's spec names it (see <see cref="NetworkKeeper.Joining"/>).</summary>
    public IDisposable Joining(Guid vmId, NicSpec nic) => keeper.Joining(vmId, nic);

    private async Task<string> PlugAsync(NetworkPlan plan, Guid vmId, NicSpec nic, QmpClient qmp, string? rootPort, CancellationToken ct)
    {
        var vni = nic.Network!.Network.Vni;
        if (keeper.Refusals.TryGetValue(vni, out var refused))
            throw new ProviderLinkException($"NIC {nic.Id}: {refused.Message}");
        var layout = plan.Networks.Single(n => n.Layout.Vni == vni).Layout;
        var name = keeper.Names.Tap(vmId, nic.Id);
        using var tap = TapDevice.Open(name);
        await NetworkTools.RunAllAsync(IpCommands.AttachTap(name, layout), ct);
        return await Hotplug.AddTapNicAsync(qmp, nic, tap, rootPort, ct);
    }
}
