using Microsoft.AspNetCore.SignalR;
using Npgsql;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Portal;
using Paddock.Portal.Features.Agents;

namespace Paddock.Unit.Portal.Agents;

/// <summary>What the hosts' hub refuses before it acts (regressions of the agent fuzz test), and what a write that met another one answers.</summary>
public sealed class AgentInputTests
{
    private static HostRegistration Registration(string name = "host-1", IReadOnlyList<VmReport>? vms = null, long memoryBytes = 1 << 30) =>
        new(Guid.NewGuid(), name, ContractVersion.Current, 2, memoryBytes, 1 << 30, "kvm", null, "9.2", "DAC + seccomp", vms ?? []);

    private static HostUsage Usage(double cpuSeconds = 1, IReadOnlyList<VmUsage>? vms = null, KsmStatus? ksm = null) =>
        new(1, cpuSeconds, vms ?? [], ksm ?? new KsmStatus(false, false, 0, 0, 0, null), DateTimeOffset.UnixEpoch, false);

    [Fact]
    public void A_well_formed_registration_and_usage_pass()
    {
        var registration = Registration(vms: [new VmReport(Guid.NewGuid(), VmPowerState.Running, DateTimeOffset.UnixEpoch)]);
        Assert.Same(registration, AgentInput.Check(registration));
        var usage = Usage(vms: [new VmUsage(Guid.NewGuid(), 1, 2.5)]);
        Assert.Same(usage, AgentInput.Check(usage));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    public void A_registration_without_a_name_is_refused(string? name) =>
        Assert.Contains("name", Assert.Throws<HubException>(() => AgentInput.Check(Registration(name: name!))).Message);

    [Fact]
    public void A_name_longer_than_enrolment_takes_is_refused_without_being_echoed()
    {
        var refusal = Assert.Throws<HubException>(() => AgentInput.Check(Registration(name: new string('x', AgentInput.MaxNameLength + 1))));
        Assert.DoesNotContain("xxxx", refusal.Message);
    }

    [Fact]
    public void Missing_arguments_and_lists_with_nulls_are_refused_not_failed_on()
    {
        Assert.Throws<HubException>(() => AgentInput.Check((HostRegistration?)null));
        Assert.Throws<HubException>(() => AgentInput.Check((VmReport?)null));
        Assert.Throws<HubException>(() => AgentInput.Check((OperationReport?)null));
        Assert.Throws<HubException>(() => AgentInput.Check((HostUsage?)null));
        Assert.Throws<HubException>(() => AgentInput.Check(Registration(vms: [null!])));
        Assert.Throws<HubException>(() => AgentInput.Check(Usage(vms: [null!])));
        Assert.Throws<HubException>(() => AgentInput.Check(Usage() with { Ksm = null! }));
    }

    [Theory]
    [InlineData(0, 1, true)]
    [InlineData(3, 4, true)]
    [InlineData(1, 1, false)]
    [InlineData(-1, 2, false)]
    [InlineData(0, 0, false)]
    [InlineData(0, HubParts.MaxParts + 1, false)]
    public void A_usage_part_must_be_one_of_its_parts(int part, int parts, bool taken)
    {
        var usage = Usage() with { Part = part, Parts = parts };
        if (taken)
        {
            Assert.Same(usage, AgentInput.Check(usage));
        }
        else
        {
            Assert.Contains("part and parts", Assert.Throws<HubException>(() => AgentInput.Check(usage)).Message);
        }
    }

    [Fact]
    public void A_vms_io_counters_pass_when_none_is_negative_and_are_refused_otherwise()
    {
        var io = new VmIo(1, 2, 3, 4, 5, 6, 7, 8, 9);
        var usage = Usage(vms: [new VmUsage(Guid.NewGuid(), 1, 2.5, Io: io), new VmUsage(Guid.NewGuid(), 1, 2.5, Io: new VmIo(0, 0, 0, 0))]);
        Assert.Same(usage, AgentInput.Check(usage));
        Assert.Contains("io", Assert.Throws<HubException>(() => AgentInput.Check(Usage(vms: [new VmUsage(Guid.NewGuid(), 1, 2.5, Io: io with { DiskWriteBytes = -1 })]))).Message);
        Assert.Contains("io", Assert.Throws<HubException>(() => AgentInput.Check(Usage(vms: [new VmUsage(Guid.NewGuid(), 1, 2.5, Io: io with { NetSentPackets = -1 })]))).Message);
    }

    [Theory]
    [InlineData(0, 10, "bytes", true)]
    [InlineData(10, 10, "characters", true)]
    [InlineData(-1, 10, "bytes", false)]
    [InlineData(11, 10, "bytes", false)]
    [InlineData(1, 10, "furlongs", false)]
    public void Work_done_passes_when_it_is_a_part_of_its_total_in_a_known_unit(long done, long total, string unit, bool passes)
    {
        var report = new OperationReport(Guid.NewGuid(), Guid.NewGuid(), OperationState.Running, Result: new OperationResult(Work: new WorkDone(done, total, unit)));
        if (passes)
        {
            Assert.Same(report, AgentInput.Check(report));
        }
        else
        {
            Assert.Contains("work", Assert.Throws<HubException>(() => AgentInput.Check(report)).Message);
        }
    }

    [Fact]
    public void An_agents_health_passes_with_the_contracts_statuses_and_is_refused_beyond_its_bounds()
    {
        var checks = new List<AgentHealthCheck> { new("disk", AgentHealthReport.Unhealthy, "1 MiB free"), new("ksm", AgentHealthReport.Degraded, "off") };
        var health = AgentHealthReport.Of(checks);
        Assert.Equal(AgentHealthReport.Unhealthy, health.Status);
        Assert.Equal(AgentHealthReport.Healthy, AgentHealthReport.Of([]).Status);
        var fine = Usage() with { Health = health };
        Assert.Same(fine, AgentInput.Check(fine));
        foreach (var bad in new[]
        {
            health with { Status = "Fine" },
            health with { Checks = [new("disk", "ok", "")] },
            health with { Checks = [new("", AgentHealthReport.Healthy, "")] },
            health with { Checks = [new("disk", AgentHealthReport.Healthy, new string('x', 501))] },
            health with { Checks = [.. Enumerable.Repeat(checks[0], AgentInput.MaxHealthChecks + 1)] },
            health with { Checks = [null!] },
        })
        {
            var refusal = Assert.Throws<HubException>(() => AgentInput.Check(Usage() with { Health = bad }));
            Assert.DoesNotContain("xxxx", refusal.Message);
        }
    }

    [Fact]
    public void A_state_the_contract_does_not_define_and_the_empty_vm_id_are_refused()
    {
        Assert.Throws<HubException>(() => AgentInput.Check(new VmReport(Guid.NewGuid(), (VmPowerState)999, DateTimeOffset.UnixEpoch)));
        Assert.Throws<HubException>(() => AgentInput.Check(new VmReport(Guid.Empty, VmPowerState.Running, DateTimeOffset.UnixEpoch)));
        Assert.Throws<HubException>(() => AgentInput.Check(new OperationReport(Guid.NewGuid(), Guid.NewGuid(), (OperationState)(-1))));
        Assert.Throws<HubException>(() => AgentInput.Check(Registration(vms: [new VmReport(Guid.NewGuid(), (VmPowerState)42, DateTimeOffset.UnixEpoch)])));
    }

    [Fact]
    public void A_registration_hands_over_finished_outcomes_each_checked_alone()
    {
        var done = new OperationReport(Guid.NewGuid(), Guid.NewGuid(), OperationState.Succeeded);
        var running = done with { State = OperationState.Running };
        Assert.NotNull(AgentInput.Check(Registration() with { Outcomes = [done, running] }));
        Assert.Throws<HubException>(() => AgentInput.Check(Registration() with { Outcomes = [null!] }));
        Assert.Same(done, AgentInput.CheckFinished(done));
        Assert.Throws<HubException>(() => AgentInput.CheckFinished(running));
        Assert.Throws<HubException>(() => AgentInput.CheckFinished(done with { State = (OperationState)7 }));
    }

    [Theory]
    [InlineData(double.PositiveInfinity)]
    [InlineData(-1)]
    public void Usage_figures_the_store_cannot_write_or_a_page_cannot_show_are_refused(double cpuSeconds)
    {
        Assert.Throws<HubException>(() => AgentInput.Check(Usage(cpuSeconds)));
        Assert.Throws<HubException>(() => AgentInput.Check(Usage(vms: [new VmUsage(Guid.NewGuid(), 1, cpuSeconds)])));
    }

    [Fact]
    public void Negative_capacity_is_refused() =>
        Assert.Throws<HubException>(() => AgentInput.Check(Registration(memoryBytes: -1)));

    [Fact]
    public void Two_writes_that_meet_on_one_stream_or_unique_key_are_a_conflict_not_a_failure()
    {
        Assert.Equal(409, ExceptionAnswers.Classify(new JasperFx.ConcurrencyException("the stream moved on")).Status);
        Assert.Equal(409, ExceptionAnswers.Classify(new Marten.Exceptions.MartenCommandException(new NpgsqlCommand(), new PostgresException("duplicate", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation))).Status);
        Assert.Equal(500, ExceptionAnswers.Classify(new InvalidOperationException()).Status);
    }
}
