using Marten;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Placement;

/// <summary>
/// This portal process's view of the fleet for choosing a host: every host, its policy and what is
/// allocated on it, read at most once every <see cref="MaxAge"/> instead of on every create (with
/// two thousand hosts and fifty thousand VMs that read is every host's record and a sum over every
/// VM). It is what Nova's scheduler keeps as its host state: the process's own bookings are added at
/// once, others' show at the next read, and a change of a host or a policy makes it stale (read
/// again by the next create).
/// </summary>
/// <remarks>
/// The view only chooses. The choice is booked under the host's lock on fresh figures
/// (<see cref="PlacementService"/>'s <c>BookAsync</c>): a host that filled up, went away or entered
/// maintenance since the view was read is refused there, the view is forgotten, and the create
/// decides again; and a refusal is only said on a fresh read. So a stale view can cost a retry,
/// never an over-booked host or a wrong refusal.
/// </remarks>
public sealed class PlacementView : IDisposable
{
    /// <summary>How old a view may be before a create reads the fleet again.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private readonly TimeProvider _clock;
    private readonly IDisposable[] _subscriptions;
    private Fleet? _view;
    private long _generation;
    private bool _reading;

    public PlacementView(ChangeNotifier<PlacementChanged> placements, ChangeNotifier<HostsChanged> hosts, TimeProvider clock)
    {
        _clock = clock;
        _subscriptions = [placements.Subscribe(_ => Forgotten()), hosts.Subscribe(_ => Forgotten())];
    }

    /// <summary>
    /// The hosts and the fleet's policy, as read at <c>ReadAt</c>; <c>Stale</c> once a change was
    /// heard since (or during) that read: it is read again, and meanwhile still chosen from.
    /// </summary>
    private sealed record Fleet(IReadOnlyList<HostView> Hosts, OvercommitPolicy Policy, DateTimeOffset ReadAt, bool Stale);

    /// <summary>The view, read through <paramref name="session"/> (the create's own transaction) when it is missing or too old.</summary>
    public Task<(IReadOnlyList<HostView> Hosts, OvercommitPolicy Fleet)> CurrentAsync(IQuerySession session, CancellationToken ct) =>
        CurrentAsync(() => PlacementService.FleetAsync(session, ct));

    /// <summary>
    /// The view, made by <paramref name="read"/> when it is missing, too old or stale. One create
    /// reads at a time: the others choose from the view it replaces meanwhile (a read sums every
    /// VM; with thousands of VMs, eight creates reading at once took the database's every core).
    /// </summary>
    public async Task<(IReadOnlyList<HostView> Hosts, OvercommitPolicy Fleet)> CurrentAsync(Func<Task<(IReadOnlyList<HostView> Hosts, OvercommitPolicy Fleet)>> read)
    {
        long generation;
        lock (_lock)
        {
            if (_view is { } view && (_reading || (!view.Stale && _clock.GetUtcNow() - view.ReadAt < MaxAge)))
                return (view.Hosts, view.Policy);
            (generation, _reading) = (_generation, true);
        }

        var readAt = _clock.GetUtcNow();
        try
        {
            var (hosts, fleet) = await read();
            lock (_lock)
            {
                // A change heard while reading may not be in what was read: kept, but read again by the next create.
                _view = new Fleet(hosts, fleet, readAt, Stale: generation != _generation);
            }

            return (hosts, fleet);
        }
        finally
        {
            lock (_lock)
                _reading = false;
        }
    }

    /// <summary>This process booked <paramref name="request"/> on <paramref name="hostId"/>: the view counts it until it is read again.</summary>
    public void Booked(Guid hostId, Resources request)
    {
        lock (_lock)
        {
            if (_view is { } view)
                _view = view with { Hosts = [.. view.Hosts.Select(h => h.Id == hostId ? h with { Allocated = h.Allocated + request } : h)] };
        }
    }

    /// <summary>A host or a policy changed, or a booking found the view wrong: the next create reads the fleet again.</summary>
    public void Forget() => Forgotten();

    private Task Forgotten()
    {
        lock (_lock)
        {
            _generation++;
            if (_view is { } view)
                _view = view with { Stale = true };
        }

        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
    }
}
