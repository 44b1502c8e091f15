using Paddock.Portal;
using Paddock.Portal.Features.Accounts;

namespace Paddock.Unit.Portal.Accounts;

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

    /// <summary>Guesses one after the other as the advisory lock lines them up, each reserving if it may.</summary>
    private static (int Reserved, (TimeSpan Wait, bool Locked)? Last, SignInFailures? Account) Guess(int times, Func<int, DateTimeOffset> at,
        SignInFailures? account = null)
    {
        var reserved = 0;
        (TimeSpan Wait, bool Locked)? last = null;
        for (var i = 0; i < times; i++)
        {
            var reservation = ThrottleRules.Reserve([("user:olga", account)], at(i), Limits);
            last = reservation.Refusal;
            if (last is null)
            {
                account = reservation.Counted.Single();
                reserved++;
            }
        }

        return (reserved, last, account);
    }

    [Fact]
    public void Thirty_guesses_at_one_instant_are_let_through_only_until_the_account_slows_down()
    {
        var (reserved, last, account) = Guess(30, _ => T0);
        Assert.Equal(Limits.AccountSlowFrom, reserved);
        Assert.Equal((TimeSpan.FromSeconds(1), false), last);
        Assert.Equal(Limits.AccountSlowFrom, account!.Count);
    }

    [Fact]
    public void Guesses_that_wait_as_told_are_let_through_until_the_lock_and_not_one_more()
    {
        SignInFailures? account = null;
        var now = T0;
        var reserved = 0;
        for (var i = 0; i < 100; i++)
        {
            var reservation = ThrottleRules.Reserve([("user:olga", account)], now, Limits);
            if (reservation.Refusal is { Locked: true })
            {
                break;
            }

            if (reservation.Refusal is { } refusal)
            {
                now += refusal.Wait;
                continue;
            }

            account = reservation.Counted.Single();
            reserved++;
        }

        Assert.Equal(Limits.AccountLockAt, reserved);
        Assert.Equal((ThrottleRules.LockFor, true), ThrottleRules.Refusal(account, account!.LastAt, Limits));
    }

    [Fact]
    public void A_guess_is_counted_on_no_key_when_any_key_refuses_it_and_a_lock_is_named_first()
    {
        var lockedAccount = Fail(10)!;
        var slowedAddress = Fail(25, "address:10.0.0.1", secondsApart: 0);
        var reservation = ThrottleRules.Reserve([(lockedAccount.Id, lockedAccount), (slowedAddress!.Id, slowedAddress)], lockedAccount.LastAt, Limits);
        Assert.Equal((ThrottleRules.LockFor, true), reservation.Refusal);
        Assert.Empty(reservation.Counted);
    }

    [Fact]
    public void A_right_password_forgets_the_account_and_gives_the_address_its_count_and_lock_back()
    {
        Assert.Null(ThrottleRules.AfterSuccess(Fail(4), Limits));

        var address = Fail(Limits.AddressLockAt, "address:10.0.0.1", secondsApart: 0)!;
        Assert.NotNull(address.LockedUntil);
        var back = ThrottleRules.AfterSuccess(address, Limits)!;
        Assert.Equal(Limits.AddressLockAt - 1, back.Count);
        Assert.Null(back.LockedUntil);
    }
}
