using Paddock.Host.Vms;

namespace Paddock.Unit.Host.Vms;

public sealed class RestartBudgetTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Restarts_stop_once_the_hourly_limit_is_used_up()
    {
        var restarts = new List<DateTimeOffset>();
        Assert.True(RestartBudget.TryTake(restarts, Noon, 2));
        Assert.True(RestartBudget.TryTake(restarts, Noon.AddMinutes(1), 2));
        Assert.False(RestartBudget.TryTake(restarts, Noon.AddMinutes(2), 2));
        Assert.Equal(2, restarts.Count);
    }

    [Fact]
    public void A_restart_older_than_an_hour_no_longer_counts()
    {
        var restarts = new List<DateTimeOffset> { Noon, Noon.AddMinutes(30) };
        Assert.False(RestartBudget.TryTake(restarts, Noon.AddMinutes(59), 2));
        Assert.True(RestartBudget.TryTake(restarts, Noon.AddMinutes(60), 2));
    }
}
