using Microsoft.AspNetCore.SignalR;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Agents;

/// <summary>
/// What the hosts' hub takes from a host before it acts on it. A credential makes a caller a host,
/// not a careful one: every argument is there, states are ones the contract defines, names fit a page,
/// figures are ones a page can compute with. What fails is refused with a <see cref="HubException"/>
/// naming the field (never echoing the value), and the host's own connection stays.
/// </summary>
public static class AgentInput
{
    /// <summary>As long as a host's name may be when it enrols (HostEndpoints).</summary>
    public const int MaxNameLength = 100;

    /// <summary>More checks than an agent makes, fewer than would crowd the Hosts page.</summary>
    public const int MaxHealthChecks = 16;

    public static HostRegistration Check(HostRegistration? registration)
    {
        var r = registration ?? throw Refused("registration");
        Require(r.Name?.Trim() is { Length: > 0 and <= MaxNameLength }, "name", $"1 to {MaxNameLength} characters");
        Require(r.Accelerator is not null && r.QemuVersion is not null && r.Confinement is not null, "accelerator, qemuVersion and confinement", "present");
        Require(r.LogicalCpus >= 0 && r.MemoryBytes >= 0 && r.DiskBytes >= 0 && r.NumaNodes >= 0 && r.HugePagesTotal >= 0 && r.HugePageBytes >= 0, "capacity", "no negative figure");
        Require(r.Vms is not null && r.ConfinementMissing?.Contains(null!) != true && r.Images?.Contains(null!) != true, "vms, confinementMissing and images", "lists without nulls");
        Require(r.Vxlan is null || (System.Net.IPAddress.TryParse(r.Vxlan.Address, out var vxlan) && vxlan.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            && r.Vxlan.Port is > 0 and <= 65535), "vxlan", "an IPv4 address and a UDP port");
        // Each outcome is checked as the hub records it (CheckFinished): one refused does not cost the registration.
        Require(r.Outcomes?.Contains(null!) != true, "outcomes", "a list without nulls");
        foreach (var vm in r.Vms!)
        {
            Check(vm);
        }

        return r;
    }

    public static VmReport Check(VmReport? report)
    {
        var r = report ?? throw Refused("report");
        Require(r.VmId != Guid.Empty, "vmId", "a VM's id");
        Require(Enum.IsDefined(r.State), "state", "one of the contract's states");
        return r;
    }

    public static OperationReport Check(OperationReport? report)
    {
        var r = report ?? throw Refused("report");
        Require(Enum.IsDefined(r.State), "state", "one of the contract's states");
        Require(r.Result?.Progress is not { } p
            || (Enum.IsDefined(p.Phase) && Figure(p.DiskPercent) && p.DiskPercent <= 100
                && p.RamTransferredBytes >= 0 && p.RamRemainingBytes >= 0 && p.RamTotalBytes >= 0 && p.DirtyBytesPerSecond >= 0 && (p.ExpectedDowntime ?? TimeSpan.Zero) >= TimeSpan.Zero),
            "result.progress", "a phase of the contract's and figures that are neither negative nor infinite (a percentage up to 100)");
        Require(r.Result?.Migration is not { } m
            || (m.DiskBytes >= 0 && m.RamTransferredBytes >= 0 && m.RamTotalBytes >= 0
                && m.DiskMirrorTime >= TimeSpan.Zero && m.TotalTime >= TimeSpan.Zero && m.SetupTime >= TimeSpan.Zero && m.Downtime >= TimeSpan.Zero),
            "result.migration", "figures that are not negative");
        Require(r.Result?.Work is not { } w || (w.Done >= 0 && w.Total >= w.Done && w.Unit is WorkDone.Bytes or WorkDone.Characters),
            "result.work", $"done and total figures, done at most the total, in {WorkDone.Bytes} or {WorkDone.Characters}");
        return r;
    }

    /// <summary>An outcome a registration hands over: a finished operation's.</summary>
    public static OperationReport CheckFinished(OperationReport? report)
    {
        var r = Check(report);
        Require(r.State != OperationState.Running, "outcome state", "a finished operation's");
        return r;
    }

    public static HostUsage Check(HostUsage? usage)
    {
        var u = usage ?? throw Refused("usage");
        Require(u.Vms is not null && !u.Vms.Contains(null!), "vms", "a list without nulls");
        Require(u.Ksm is not null, "ksm", "present");
        Require(u.Parts is >= 1 and <= HubParts.MaxParts && u.Part >= 0 && u.Part < u.Parts, "part and parts", $"a part from 0 of 1 to {HubParts.MaxParts} parts");
        Require(u.RssBytes >= 0 && Figure(u.CpuSeconds) && u.Vms!.All(v => v.RssBytes >= 0 && Figure(v.CpuSeconds)), "rssBytes and cpuSeconds", "figures that are neither negative nor infinite");
        Require(u.Vms!.All(v => v.Io is null || Counters(v.Io)), "io", "counters that are not negative");
        Require(u.Vms!.All(v => v.Guest is null || Bounded(v.Guest)), "guest",
            $"at most {GuestReport.MaxNics} NICs of {GuestReport.MaxAddresses} addresses each, every text up to {GuestReport.MaxText} characters");
        Require(u.Health is null || (AgentHealthReport.Statuses.Contains(u.Health.Status) && u.Health.Checks is { Count: <= MaxHealthChecks } checks
            && checks.All(c => c is not null && AgentHealthReport.Statuses.Contains(c.Status) && c.Name is { Length: > 0 and <= 40 } && c.Description is { Length: <= 500 })),
            "health", $"a status of the contract's and at most {MaxHealthChecks} checks, each named (up to 40 characters) with a status and a sentence up to 500");
        return u;
    }

    private static bool Counters(VmIo io) =>
        new[] { io.DiskReadBytes, io.DiskWriteBytes, io.DiskReadOperations, io.DiskWriteOperations }
            .Concat(new[] { io.NetReceivedBytes, io.NetSentBytes, io.NetReceivedPackets, io.NetSentPackets, io.BalloonBytes }.OfType<long>())
            .All(n => n >= 0);

    private static bool Bounded(GuestReport guest) =>
        new[] { guest.Os, guest.Hostname }.All(Short)
        && (guest.Nics is null || guest.Nics is { Count: <= GuestReport.MaxNics } nics
            && nics.All(n => n is not null && Short(n.Name) && Short(n.Mac) && n.Addresses is { Count: <= GuestReport.MaxAddresses } a && a.All(x => x is not null && Short(x))));

    private static bool Short(string? text) => text is null || text.Length <= GuestReport.MaxText;

    /// <summary>JSON's 1e400 reads as infinity, which the store cannot write back.</summary>
    private static bool Figure(double value) => double.IsFinite(value) && value >= 0;

    private static void Require(bool holds, string field, string what)
    {
        if (!holds)
        {
            throw new HubException($"Refused: {field} must be {what}.");
        }
    }

    private static HubException Refused(string argument) => new($"Refused: the {argument} is missing.");
}
