using Paddock.Engine.Contract;
using Paddock.Engine.Networks;
using Paddock.Engine.Qmp;
using Paddock.Host.Networks;
using Paddock.Host.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// A running VM's I/O counters for the usage report: its disks through QMP, its tenant-network NICs
/// through their taps, its balloon's size. A QEMU that does not answer within <see cref="Patience"/>
/// gets no counters this round (its report says null) and holds up no other VM's. A VM being saved
/// or migrated is left alone: its QEMU's monitor is busy moving its state, and has its own figures.
/// </summary>
public sealed class VmIoSampler(NetworkKeeper networks)
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    public async Task<VmIo?> SampleAsync(VmRuntime vm, CancellationToken ct)
    {
        if (vm.Qmp is not { } qmp || vm.Migration is not null || vm.Saving)
            return null;
        try
        {
            var disks = await qmp.QueryBlockStatsAsync(ct, Patience);
            var balloon = await BalloonAsync(qmp, ct);
            var taps = (vm.Spec?.Nics ?? []).Where(n => n.Network is not null)
                .Select(n => TapDevice.Counters(networks.Names.Tap(vm.Id, n.Id))).OfType<TapCounters>().ToList();
            var net = taps.Count == 0 ? null : new TapCounters(
                Sum(taps, t => t.ReceivedBytes), Sum(taps, t => t.SentBytes), Sum(taps, t => t.ReceivedPackets), Sum(taps, t => t.SentPackets));
            return new VmIo(
                Sum(disks, d => d.ReadBytes), Sum(disks, d => d.WriteBytes), Sum(disks, d => d.ReadOperations), Sum(disks, d => d.WriteOperations),
                net?.ReceivedBytes, net?.SentBytes, net?.ReceivedPackets, net?.SentPackets, balloon);
        }
        catch (QmpException)
        {
            return null;
        }
    }

    /// <summary>
    /// A total that stops at <see cref="long.MaxValue"/>: a hostile QEMU's counters near it would make
    /// LINQ's checked Sum throw, and end the usage reports of every VM on the host.
    /// </summary>
    public static long Sum<T>(IEnumerable<T> items, Func<T, long> counter) =>
        items.Aggregate(0L, (total, item) => counter(item) is var n && n > long.MaxValue - total ? long.MaxValue : total + n);

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
