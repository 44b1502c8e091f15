using System.Collections.Concurrent;
using Marten;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Vms;

/// <summary>Samples were added for <paramref name="VmIds"/> (this process's history: each portal process keeps its own).</summary>
[LocalChange]
public sealed record VmStatsAdded(IReadOnlyList<Guid> VmIds);

/// <summary>
/// The last hour of every running VM's use, in memory, for the VM page's charts, the admins' top
/// table and <c>GET /api/vms/{id}/stats</c>. Each portal process builds its own from the usage
/// reports its hosts' agents send (every 5 s; it hears of each through <see cref="HostUsageChanged"/>,
/// whichever process received it, and reads it from the store), so a process that starts shows
/// figures from then on. A VM with no report for an hour is forgotten.
/// </summary>
public sealed class VmStatsHistory(
    IDocumentStore store, ChangeNotifier<HostUsageChanged> usage, ChangeNotifier<VmStatsAdded> added, TimeProvider clock, ILogger<VmStatsHistory> log)
    : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, VmSeries> _series = new();

    /// <summary>The VM's samples of the last <paramref name="within"/> (at most an hour), oldest first; none for a VM never reported here.</summary>
    public IReadOnlyList<VmSample> Of(Guid vmId, TimeSpan within) =>
        _series.TryGetValue(vmId, out var series) ? series.Since(clock.GetUtcNow() - within) : [];

    /// <summary>What the VM's guest agent said in the newest report (reports reach every portal process); null for none.</summary>
    public Paddock.Engine.Contract.GuestReport? GuestOf(Guid vmId) => _series.TryGetValue(vmId, out var series) ? series.Guest : null;

    /// <summary>Each VM's newest sample, for those with one taken within <paramref name="within"/>.</summary>
    public IReadOnlyDictionary<Guid, VmSample> Latest(TimeSpan within)
    {
        var after = (clock.GetUtcNow() - within).ToUnixTimeMilliseconds();
        return _series.Select(s => (s.Key, s.Value.Latest)).Where(s => s.Latest is { } l && l.AtMs > after).ToDictionary(s => s.Key, s => s.Latest!.Value);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var subscription = usage.Subscribe(change => AddAsync(change.HostId, stoppingToken));
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1), clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var before = clock.GetUtcNow() - VmSeries.Span;
            foreach (var (id, series) in _series)
            {
                if (series.LastReport < before)
                    _series.TryRemove(id, out _);
            }
        }
    }

    private async Task AddAsync(Guid hostId, CancellationToken ct)
    {
        try
        {
            await using var session = store.QuerySession();
            if (await session.LoadAsync<HostUsageReport>(hostId, ct) is not { } report)
                return;
            var vms = report.Vms.Where(v => _series.GetOrAdd(v.VmId, _ => new VmSeries()).Add(report.At, v)).Select(v => v.VmId).ToList();
            if (vms.Count > 0)
                added.Publish(new VmStatsAdded(vms));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The store away: this report makes no samples; the next one's rates cover the gap.
            log.LogDebug("Usage report of host {Host} not read for the VM stats: {Error}", hostId, e.Message);
        }
    }
}
