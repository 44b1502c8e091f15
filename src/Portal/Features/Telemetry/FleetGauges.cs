using System.Diagnostics.Metrics;
using Marten;
using Paddock.Portal.Features.Console;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Placement;

namespace Paddock.Portal.Features.Telemetry;

/// <summary>What the gauges show, read from the store at once, every <see cref="FleetGauges.Every"/>.</summary>
public sealed record FleetReading(
    IReadOnlyDictionary<string, long> VmsByState, long QueuedCommands, double OldestQueuedSeconds, long ConnectedHosts,
    IReadOnlyList<HostView> Hosts, IReadOnlyList<HostUsageReport> Usage, IReadOnlyDictionary<Guid, string> VmNames)
{
    public IReadOnlyDictionary<Guid, string> HostNames { get; } = Hosts.ToDictionary(h => h.Id, h => h.Name);

    public static readonly FleetReading None = new(new Dictionary<string, long>(), 0, 0, 0, [], [], new Dictionary<Guid, string>());
}

/// <summary>
/// Gauges of the fleet as the store holds it: VMs by state, the command queue's depth and age,
/// connected hosts, each host's capacity, allocation and use, and each VM's CPU and memory as its
/// host reports them. Read every few seconds (a scrape never waits on the store) and by one
/// process at a time per portal; open console sessions are this process's own.
/// </summary>
public sealed class FleetGauges : BackgroundService
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(5);

    private readonly IDocumentStore _store;
    private readonly TimeProvider _clock;
    private readonly ILogger<FleetGauges> _log;
    private FleetReading _reading = FleetReading.None;

    public FleetGauges(IDocumentStore store, TimeProvider clock, ConsoleSessions consoles, ILogger<FleetGauges> log)
    {
        (_store, _clock, _log) = (store, clock, log);
        var meter = PortalMetrics.Meter;
        meter.CreateObservableGauge("paddock.vms", () => _reading.VmsByState.Select(s => new Measurement<long>(s.Value, new KeyValuePair<string, object?>("state", s.Key))),
            description: "VMs by state.");
        meter.CreateObservableGauge("paddock.commands.queued", () => _reading.QueuedCommands, description: "Commands for agents not yet ended.");
        meter.CreateObservableGauge("paddock.commands.oldest.age", () => _reading.OldestQueuedSeconds, unit: "s", description: "How long the oldest of them has waited.");
        meter.CreateObservableGauge("paddock.agents.connected", () => _reading.ConnectedHosts, description: "Hosts whose agent is connected (to any portal process).");
        meter.CreateObservableGauge("paddock.console.sessions", () => consoles.Count, description: "Console sessions this portal process relays.");
        meter.CreateObservableGauge("paddock.host.capacity", () => PerHost(h => Placement.Placement.Capacity(h)), description: "What placement may book on each host (after overcommit).");
        meter.CreateObservableGauge("paddock.host.allocated", () => PerHost(h => h.Allocated), description: "What the VMs on each host have booked.");
        meter.CreateObservableGauge("paddock.host.memory.used", () => _reading.Usage.Select(u => Host(u.RssBytes, u.Id)), unit: "By", description: "Memory the host's QEMUs hold.");
        meter.CreateObservableGauge("paddock.host.cpu.utilization", () => _reading.Usage.Select(u => Host(u.CpuPercent / 100, u.Id)), description: "The host's CPUs in use by its QEMUs, 0 to 1.");
        meter.CreateObservableGauge("paddock.vm.memory.rss", () => PerVm(v => v.RssBytes), unit: "By", description: "Each VM's QEMU resident memory.");
        meter.CreateObservableCounter("paddock.vm.cpu.time", () => PerVm(v => v.CpuSeconds), unit: "s", description: "Each VM's QEMU CPU time.");
        meter.CreateObservableCounter("paddock.vm.disk.io", () => PerVmIo(io => ("read", io.DiskReadBytes), io => ("write", io.DiskWriteBytes)),
            unit: "By", description: "Bytes each VM's disks read and wrote since its QEMU started.");
        meter.CreateObservableCounter("paddock.vm.disk.operations", () => PerVmIo(io => ("read", io.DiskReadOperations), io => ("write", io.DiskWriteOperations)),
            description: "Reads and writes of each VM's disks since its QEMU started.");
        meter.CreateObservableCounter("paddock.vm.network.io", () => PerVmIo(io => ("receive", io.NetReceivedBytes), io => ("transmit", io.NetSentBytes)),
            unit: "By", description: "Bytes each VM's NICs on tenant networks received and sent since its QEMU started.");
        meter.CreateObservableCounter("paddock.vm.network.packets", () => PerVmIo(io => ("receive", io.NetReceivedPackets), io => ("transmit", io.NetSentPackets)),
            description: "Packets each VM's NICs on tenant networks received and sent since its QEMU started.");
        meter.CreateObservableGauge("paddock.vm.memory.balloon", () => PerVmIo(io => ("actual", io.BalloonBytes)), unit: "By", description: "What each VM's balloon leaves its guest.");
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every, _clock);
        do
        {
            try
            {
                _reading = await ReadAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The store away: the gauges keep their last reading until it is back.
                _log.LogDebug("Fleet gauges not read: {Error}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task<FleetReading> ReadAsync(CancellationToken ct)
    {
        await using var session = _store.QuerySession();
        var vms = await session.Query<Vms.Vm>().Select(v => new VmRow(v.Id, v.Name, v.Status)).ToListAsync(ct);
        var queued = await session.Query<Agents.AgentCommand>()
            .Where(c => c.State == Agents.AgentCommandState.Pending || c.State == Agents.AgentCommandState.Sent).Select(c => c.CreatedAt).ToListAsync(ct);
        var connected = await session.Query<HostRecord>().CountAsync(h => h.Connected && !h.Revoked, ct);
        var now = _clock.GetUtcNow();
        return new FleetReading(
            vms.GroupBy(v => v.Status.ToString()).ToDictionary(g => g.Key, g => (long)g.Count()),
            queued.Count, queued.Count == 0 ? 0 : (now - queued.Min()).TotalSeconds, connected,
            await PlacementService.HostsAsync(session, ct), await session.Query<HostUsageReport>().ToListAsync(ct),
            vms.ToDictionary(v => v.Id, v => v.Name));
    }

    private IEnumerable<Measurement<long>> PerHost(Func<HostView, Resources> of) =>
        _reading.Hosts.SelectMany(h =>
        {
            var r = of(h);
            return new[] { ("vcpus", r.VCpus), ("memory_mib", r.MemoryMiB), ("disk_mib", r.DiskMiB) }
                .Select(x => new Measurement<long>(x.Item2, new("host", h.Name), new("resource", x.Item1)));
        });

    private Measurement<T> Host<T>(T value, Guid hostId)
        where T : struct =>
        new(value, new KeyValuePair<string, object?>("host", HostName(hostId)));

    private IEnumerable<Measurement<T>> PerVm<T>(Func<Engine.Contract.VmUsage, T> of)
        where T : struct =>
        _reading.Usage.SelectMany(u => u.Vms.Where(v => _reading.VmNames.ContainsKey(v.VmId)).Select(v => new Measurement<T>(of(v),
            new("vm", v.VmId.ToString()), new("vm_name", _reading.VmNames[v.VmId]), new("host", HostName(u.Id)))));

    /// <summary>One measurement per VM that reported its I/O and per figure it has, labelled with the figure's direction.</summary>
    private IEnumerable<Measurement<long>> PerVmIo(params Func<Engine.Contract.VmIo, (string Direction, long? Value)>[] figures) =>
        _reading.Usage.SelectMany(u => u.Vms.Where(v => v.Io is not null && _reading.VmNames.ContainsKey(v.VmId)).SelectMany(v => figures
            .Select(f => f(v.Io!)).Where(f => f.Value is not null).Select(f => new Measurement<long>(f.Value!.Value,
                new("vm", v.VmId.ToString()), new("vm_name", _reading.VmNames[v.VmId]), new("host", HostName(u.Id)), new("direction", f.Direction)))));

    private string HostName(Guid hostId) => _reading.HostNames.GetValueOrDefault(hostId) ?? hostId.ToString();

    private sealed record VmRow(Guid Id, string Name, Vms.VmStatus Status);
}
