using Paddock.Engine.Networks;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Host.Networks;

namespace Paddock.Bench;

/// <summary>
/// The network benchmark's baseline: a Linux bridge with nothing else, no namespace, gateway,
/// nftables or VXLAN, made by the bench under a name no agent uses. The guests' taps are opened and
/// handed to QEMU by descriptor exactly as the agent does (<see cref="Hotplug.AddTapNicAsync"/>), so
/// the QEMUs on both sides of the comparison are the same; only what joins the taps differs.
/// </summary>
public sealed class PlainBridge : IAsyncDisposable
{
    /// <summary>Bridge and taps under the prefix "bq", which no agent of the tests or benches takes.</summary>
    public const string Name = "bqplain0";

    private readonly NetworkNames _names = new("bq");

    private PlainBridge()
    {
    }

    /// <summary>Makes the bridge (removing one an interrupted run left): no STP, no forwarding delay, as the agent's.</summary>
    public static async Task<PlainBridge> CreateAsync(CancellationToken ct)
    {
        var bridge = new PlainBridge();
        await bridge.DisposeAsync();
        try
        {
            await NetworkTools.RunAsync(["ip", "link", "add", Name, "type", "bridge", "stp_state", "0", "forward_delay", "0"], ct: ct);
            await NetworkTools.RunAsync(["ip", "link", "set", Name, "up"], ct: ct);
            return bridge;
        }
        catch
        {
            await bridge.DisposeAsync();
            throw;
        }
    }

    /// <summary>A <see cref="Testing.TapPlug"/>: each tap NIC of the paused VM into this bridge and into QEMU.</summary>
    public async Task PlugAsync(Guid vmId, VmSpec spec, QmpClient qmp, CancellationToken ct)
    {
        foreach (var (nic, rootPort) in QemuCommandLine.TapNicPorts(spec))
        {
            var tap = _names.Tap(vmId, nic.Id);
            using var handle = TapDevice.Open(tap);
            await NetworkTools.RunAsync(["ip", "link", "set", tap, "master", Name, "up"], ct: ct);
            await Hotplug.AddTapNicAsync(qmp, nic, handle, rootPort, ct);
        }
    }

    /// <summary>Removes the bridge if it is there (the taps go with their QEMUs).</summary>
    public async ValueTask DisposeAsync()
    {
        if (File.Exists($"/sys/class/net/{Name}/ifindex"))
        {
            await NetworkTools.RunAsync(["ip", "link", "del", Name]);
        }
    }
}
