using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Placement;

public sealed class PlacementViewTests : IDisposable
{
    private readonly FakeTimeProvider _clock = new();
    private readonly ChangeNotifier<PlacementChanged> _placements;
    private readonly ChangeNotifier<HostsChanged> _hosts;
    private readonly PlacementView _view;
    private readonly HostView _host = new(Guid.NewGuid(), "h1", 8, 8192, 100 * 1024, OvercommitPolicy.Default, default);
    private int _reads;

    public PlacementViewTests()
    {
        var bus = new ChangeBus(new ConfigurationBuilder().Build(), TimeProvider.System, NullLogger<ChangeBus>.Instance);
        _placements = new(bus, NullLogger<ChangeNotifier<PlacementChanged>>.Instance);
        _hosts = new(bus, NullLogger<ChangeNotifier<HostsChanged>>.Instance);
        _view = new PlacementView(_placements, _hosts, _clock);
    }

    public void Dispose() => _view.Dispose();

    /// <summary>What the database holds: the one host with nothing allocated, counting each read.</summary>
    private Task<(IReadOnlyList<HostView> Hosts, OvercommitPolicy Fleet)> Read()
    {
        _reads++;
        return Task.FromResult<(IReadOnlyList<HostView>, OvercommitPolicy)>(([_host], OvercommitPolicy.Default));
    }

    private async Task<Resources> AllocatedAsync() => (await _view.CurrentAsync(Read)).Hosts.Single().Allocated;

    [Fact]
    public async Task The_fleet_is_read_once_a_second_and_this_processs_bookings_count_at_once()
    {
        Assert.Equal(default, await AllocatedAsync());
        _view.Booked(_host.Id, new Resources(2, 1024, 10));
        _view.Booked(Guid.NewGuid(), new Resources(4, 4096, 10));
        Assert.Equal(new Resources(2, 1024, 10), await AllocatedAsync());
        Assert.Equal(1, _reads);

        // A second on, the database is asked again: what it says replaces the bookings counted here.
        _clock.Advance(PlacementView.MaxAge);
        Assert.Equal(default, await AllocatedAsync());
        Assert.Equal(2, _reads);
    }

    [Fact]
    public async Task A_host_or_policy_change_or_a_booking_refused_makes_the_next_create_read_again()
    {
        await AllocatedAsync();
        _hosts.Publish(new HostsChanged());
        await AllocatedAsync();
        _placements.Publish(new PlacementChanged());
        await AllocatedAsync();
        _view.Forget();
        await AllocatedAsync();
        await AllocatedAsync();

        Assert.Equal(4, _reads);
    }

    [Fact]
    public async Task While_one_create_reads_the_others_choose_from_the_view_it_replaces()
    {
        await AllocatedAsync();
        _view.Booked(_host.Id, new Resources(1, 512, 0));
        _clock.Advance(PlacementView.MaxAge);
        var gate = new TaskCompletionSource();
        var reading = _view.CurrentAsync(async () =>
        {
            await gate.Task;
            return await Read();
        });

        // Old, and stale after a change too: chosen from all the same, without a read of their own.
        Assert.Equal(new Resources(1, 512, 0), await AllocatedAsync());
        _hosts.Publish(new HostsChanged());
        Assert.Equal(new Resources(1, 512, 0), await AllocatedAsync());
        Assert.Equal(1, _reads);

        gate.SetResult();
        await reading;
        Assert.Equal(2, _reads);
        // That read began before the change: the next create reads again.
        Assert.Equal(default, await AllocatedAsync());
        Assert.Equal(3, _reads);
    }

    [Fact]
    public async Task A_read_during_which_a_change_was_heard_is_used_once_and_not_kept()
    {
        var gate = new TaskCompletionSource();
        var reading = _view.CurrentAsync(async () =>
        {
            await gate.Task;
            return await Read();
        });
        _hosts.Publish(new HostsChanged());
        gate.SetResult();
        await reading;

        await AllocatedAsync();
        Assert.Equal(2, _reads);
    }
}
