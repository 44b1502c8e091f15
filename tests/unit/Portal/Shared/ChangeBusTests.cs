using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Shared;

/// <summary>What crosses between portal processes: each subscriber hears a change once, whichever process made it.</summary>
public sealed class ChangeBusTests
{
    private static ChangeBus NewBus() => new(new ConfigurationBuilder().Build(), TimeProvider.System, NullLogger<ChangeBus>.Instance);

    private static ChangeNotifier<VmChanged> NewNotifier(ChangeBus bus) => new(bus, NullLogger<ChangeNotifier<VmChanged>>.Instance);

    [Fact]
    public void A_change_published_here_reaches_the_subscribers_here_once_and_not_again_when_its_notice_comes_back()
    {
        var bus = NewBus();
        var notifier = NewNotifier(bus);
        var heard = new List<VmChanged>();
        using var subscription = notifier.Subscribe(c => { heard.Add(c); return Task.CompletedTask; });
        var change = new VmChanged(Guid.NewGuid(), Guid.NewGuid());

        notifier.Publish(change);
        // What NOTIFY brings back to every listener, the sender included.
        bus.Receive(ChangeNotice.Format(bus.Origin, nameof(VmChanged), System.Text.Json.JsonSerializer.Serialize(change))!);

        Assert.Equal([change], heard);
    }

    [Fact]
    public void A_notice_from_another_process_reaches_the_subscribers_of_its_kind_only()
    {
        var bus = NewBus();
        var vms = NewNotifier(bus);
        var revocations = new ChangeNotifier<HostRevoked>(bus, NullLogger<ChangeNotifier<HostRevoked>>.Instance);
        var heardVms = new List<VmChanged>();
        var heardRevocations = new List<HostRevoked>();
        using var one = vms.Subscribe(c => { heardVms.Add(c); return Task.CompletedTask; });
        using var two = revocations.Subscribe(c => { heardRevocations.Add(c); return Task.CompletedTask; });
        var host = Guid.NewGuid();

        bus.Receive(ChangeNotice.Format("another-portal", nameof(HostRevoked), $$"""{"HostId":"{{host}}"}""")!);

        Assert.Equal([new HostRevoked(host)], heardRevocations);
        Assert.Empty(heardVms);
    }

    [Fact]
    public void A_change_that_lives_in_one_process_memory_reaches_its_own_subscribers_only()
    {
        var bus = NewBus();
        var progress = new ChangeNotifier<MigrationProgressed>(bus, NullLogger<ChangeNotifier<MigrationProgressed>>.Instance);
        var heard = 0;
        using var subscription = progress.Subscribe(_ => { heard++; return Task.CompletedTask; });
        var vm = Guid.NewGuid();

        progress.Publish(new(vm));
        bus.Receive(ChangeNotice.Format("another-portal", nameof(MigrationProgressed), $$"""{"VmId":"{{vm}}"}""")!);

        Assert.Equal(1, heard);
    }

    [Theory]
    [InlineData("")]
    [InlineData("only-an-origin")]
    [InlineData("another-portal UnknownKind {}")]
    [InlineData("another-portal VmChanged not-json")]
    [InlineData("another-portal VmChanged null")]
    public void A_notice_that_is_not_one_of_ours_is_dropped_without_failing_the_listener(string payload)
    {
        var bus = NewBus();
        var heard = new List<VmChanged>();
        using var subscription = NewNotifier(bus).Subscribe(c => { heard.Add(c); return Task.CompletedTask; });

        bus.Receive(payload);

        Assert.Empty(heard);
    }

    [Fact]
    public void A_notice_keeps_its_change_whole_and_refuses_what_notify_would_refuse()
    {
        var payload = ChangeNotice.Format("origin", "Kind", """{"a":"b c"}""");
        Assert.Equal(new ChangeNotice("origin", "Kind", """{"a":"b c"}"""), ChangeNotice.Parse(payload!));
        Assert.Null(ChangeNotice.Format("origin", "Kind", new string('x', 8000)));
    }
}
