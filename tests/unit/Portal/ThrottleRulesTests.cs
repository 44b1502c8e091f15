using Paddock.Portal;
using Paddock.Portal.Features.Accounts;

namespace Paddock.Unit.Portal;

public sealed class ThrottleRulesTests
{
    private static readonly SignInLimits Limits = new();
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static SignInFailures? Fail(int times, string key = "user:olga", double secondsApart = 100)
    {
        SignInFailures? record = null;
        for (var i = 0; i < times; i++)
        {
            record = ThrottleRules.AfterFailure(record, key, T0.AddSeconds(i * secondsApart), Limits);
        }

        return record;
    }

    [Fact]
    public void Two_failures_change_nothing() =>
        Assert.Null(ThrottleRules.Refusal(Fail(2), T0.AddSeconds(101), Limits));

    [Fact]
    public void From_the_third_failure_attempts_are_spaced_out_doubling_each_time()
    {
        var third = Fail(3)!;
        Assert.Equal((TimeSpan.FromSeconds(0.5), false), ThrottleRules.Refusal(third, third.LastAt.AddSeconds(0.5), Limits));
        Assert.Null(ThrottleRules.Refusal(third, third.LastAt.AddSeconds(1), Limits));

        var fifth = Fail(5)!;
        Assert.Equal((TimeSpan.FromSeconds(4), false), ThrottleRules.Refusal(fifth, fifth.LastAt, Limits));
    }

    [Fact]
    public void The_tenth_failure_locks_the_account_for_fifteen_minutes_then_it_starts_afresh()
    {
        var tenth = Fail(10)!;
        Assert.Equal((ThrottleRules.LockFor, true), ThrottleRules.Refusal(tenth, tenth.LastAt, Limits));
        var after = tenth.LastAt + ThrottleRules.LockFor;
        Assert.Null(ThrottleRules.Refusal(tenth, after, Limits));
        Assert.Equal(1, ThrottleRules.AfterFailure(tenth, tenth.Id, after, Limits).Count);
    }

    [Fact]
    public void An_address_has_higher_limits_than_an_account() =>
        Assert.Null(ThrottleRules.Refusal(Fail(10, "address:10.0.0.1", secondsApart: 1), T0.AddSeconds(10), Limits));

    [Fact]
    public void Failures_older_than_the_window_are_forgotten() =>
        Assert.Equal(1, ThrottleRules.AfterFailure(Fail(5), "user:olga", T0.AddHours(2), Limits).Count);
}
