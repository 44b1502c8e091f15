using Microsoft.Extensions.Time.Testing;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Vms;

public sealed class LeasesTests
{
    private static readonly PortalPolicy Policy = new() { LeaseNotice = TimeSpan.FromHours(1), ExpiredGrace = TimeSpan.FromDays(2) };

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));

    private Vm Leased(TimeSpan lease) => new() { Status = VmStatus.Running, ExpiresAt = _clock.GetUtcNow() + lease };

    [Fact]
    public void A_lease_tells_the_owner_within_the_notice_then_expires_then_deletes_after_the_grace()
    {
        var vm = Leased(TimeSpan.FromHours(3));
        Assert.Equal(LeaseStep.None, Leases.Next(vm, Policy, _clock.GetUtcNow()));
        Assert.Equal(vm.ExpiresAt - Policy.LeaseNotice, Leases.NextDue(vm, Policy));

        _clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(LeaseStep.Notify, Leases.Next(vm, Policy, _clock.GetUtcNow()));
        vm.Apply(new VmLeaseExpiring(vm.ExpiresAt!.Value, _clock.GetUtcNow()));
        Assert.Equal(LeaseStep.None, Leases.Next(vm, Policy, _clock.GetUtcNow()));
        Assert.Equal(vm.ExpiresAt, Leases.NextDue(vm, Policy));

        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(LeaseStep.Expire, Leases.Next(vm, Policy, _clock.GetUtcNow()));
        Assert.Equal(VmVerb.Shutdown, Leases.StopVerb(vm));
        vm.Apply(new VmExpired(vm.ExpiresAt.Value, _clock.GetUtcNow() + Policy.ExpiredGrace, _clock.GetUtcNow()));
        vm.Status = VmStatus.Stopped;
        Assert.Equal(LeaseStep.None, Leases.Next(vm, Policy, _clock.GetUtcNow()));

        _clock.Advance(Policy.ExpiredGrace);
        Assert.Equal(LeaseStep.Delete, Leases.Next(vm, Policy, _clock.GetUtcNow()));
    }

    [Fact]
    public void An_expired_VM_that_still_runs_is_stopped_again_once_it_is_idle()
    {
        var vm = Leased(TimeSpan.FromMinutes(1));
        _clock.Advance(TimeSpan.FromMinutes(2));
        vm.Apply(new VmExpired(vm.ExpiresAt!.Value, _clock.GetUtcNow() + Policy.ExpiredGrace, _clock.GetUtcNow()));
        vm.PendingOperation = Guid.NewGuid();
        Assert.Equal(LeaseStep.None, Leases.Next(vm, Policy, _clock.GetUtcNow()));

        vm.PendingOperation = null;
        Assert.Equal(LeaseStep.StopAgain, Leases.Next(vm, Policy, _clock.GetUtcNow()));
        vm.Status = VmStatus.Paused;
        Assert.Equal(VmVerb.PowerOff, Leases.StopVerb(vm));
    }

    [Fact]
    public void An_extension_clears_the_notice_and_the_expiry()
    {
        var vm = Leased(TimeSpan.FromMinutes(1));
        _clock.Advance(TimeSpan.FromMinutes(2));
        vm.Apply(new VmExpired(vm.ExpiresAt!.Value, _clock.GetUtcNow() + Policy.ExpiredGrace, _clock.GetUtcNow()));

        vm.Apply(new VmLeaseSet(_clock.GetUtcNow() + TimeSpan.FromDays(7), Guid.NewGuid(), _clock.GetUtcNow()));

        Assert.Null(vm.ExpiredAt);
        Assert.Null(vm.ExpiryNoticeAt);
        Assert.Equal(LeaseStep.None, Leases.Next(vm, Policy, _clock.GetUtcNow()));
        vm.Status = VmStatus.Stopped;
        Assert.Null(VmRules.Refusal(vm, VmVerb.Start));
    }

    [Fact]
    public void An_expired_VM_is_not_started_until_its_lease_is_extended()
    {
        var vm = Leased(TimeSpan.FromMinutes(1));
        vm.Status = VmStatus.Stopped;
        vm.Name = "short";
        vm.Apply(new VmExpired(vm.ExpiresAt!.Value, _clock.GetUtcNow(), _clock.GetUtcNow()));

        Assert.Equal("The lease of 'short' ended; extend it to start the VM again.", VmRules.Refusal(vm, VmVerb.Start));
    }

    [Fact]
    public void A_VM_without_a_lease_never_expires()
    {
        var vm = new Vm { Status = VmStatus.Running };
        _clock.Advance(TimeSpan.FromDays(10_000));
        Assert.Equal(LeaseStep.None, Leases.Next(vm, Policy, _clock.GetUtcNow()));
        Assert.Null(Leases.NextDue(vm, Policy));
    }

    [Theory]
    [InlineData(1, "1 minute")]
    [InlineData(90, "1 hour 30 minutes")]
    [InlineData(60 * 24 * 7, "7 days")]
    [InlineData(60 * 30, "1 day 6 hours")]
    public void Lease_lengths_read_as_words(int minutes, string words) => Assert.Equal(words, Durations.Describe(TimeSpan.FromMinutes(minutes)));
}
