using Paddock.Engine.Contract;
using Paddock.Engine.Networks;
using Paddock.Engine.Qmp;
using Paddock.Host.Networks;
using Paddock.Host.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// A running VM's I/O counters for the usage report: its disks through QMP, its tenant-network NICs
/// through their taps, its balloon's size. A QEMU that does not answer within <see cref="Patience"/>
/// gets no counters this round (its report says null) and holds up no other VM's.
/// </summary>
public sealed class VmIoSampler(NetworkKeeper networks)
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    public async Task<VmIo?> SampleAsync(VmRuntime vm, CancellationToken ct)
    {
        if (vm.Qmp is not { } qmp)
            return null;
        try
        {
            var disks = await qmp.QueryBlockStatsAsync(ct, Patience);
            var balloon = await BalloonAsync(qmp, ct);
            var taps = (vm.Spec?.Nics ?? []).Where(n => n.Network is not null)
                .Select(n => TapDevice.Counters(networks.Names.Tap(vm.Id, n.Id))).OfType<TapCounters>().ToList();
            var net = taps.Count == 0 ? null : new TapCounters(
                taps.Sum(t => t.ReceivedBytes), taps.Sum(t => t.SentBytes), taps.Sum(t => t.ReceivedPackets), taps.Sum(t => t.SentPackets));
            return new VmIo(
                disks.Sum(d => d.ReadBytes), disks.Sum(d => d.WriteBytes), disks.Sum(d => d.ReadOperations), disks.Sum(d => d.WriteOperations),
                net?.ReceivedBytes, net?.SentBytes, net?.ReceivedPackets, net?.SentPackets, balloon);
        }
        catch (QmpException)
        {
            return null;
        }
    }

    /// <summary>The balloon's size; null for a VM without one (QEMU answers an error).</summary>
    private static async Task<long?> BalloonAsync(QmpClient qmp, CancellationToken ct)
    {
        try
        {
            return (await qmp.QueryBalloonAsync(ct, Patience)).ActualBytes;
        }
        catch (QmpErrorException)
        {
            return null;
        }
    }
}
