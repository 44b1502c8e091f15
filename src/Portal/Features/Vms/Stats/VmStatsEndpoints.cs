using Marten;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// One sample of a VM's use as the API shows it: CPU in per cent of its vCPUs, memory in bytes, and
/// rates per second over the interval that ended at <c>At</c>. Null where its host gives no figure
/// (no balloon, no NIC on a tenant network, a QEMU that did not answer for its I/O).
/// </summary>
public sealed record VmStatPoint(
    DateTimeOffset At, double CpuPercent, long RssBytes, long? BalloonBytes,
    double? DiskReadBytesPerSecond, double? DiskWriteBytesPerSecond, double? DiskReadsPerSecond, double? DiskWritesPerSecond,
    double? NetReceivedBytesPerSecond, double? NetSentBytesPerSecond, double? NetReceivedPacketsPerSecond, double? NetSentPacketsPerSecond)
{
    public static VmStatPoint Of(VmSample s, int vCpus) => new(
        s.At, Math.Round(s.CpuCores * 100.0 / Math.Max(1, vCpus), 1), (long)s.RssBytes, Figure(s.BalloonBytes) is { } b ? (long)b : null,
        Figure(s.DiskReadBytes), Figure(s.DiskWriteBytes), Figure(s.DiskReadOps), Figure(s.DiskWriteOps),
        Figure(s.NetReceivedBytes), Figure(s.NetSentBytes), Figure(s.NetReceivedPackets), Figure(s.NetSentPackets));

    private static double? Figure(float value) => float.IsNaN(value) ? null : Math.Round(value, 1);
}

public static class VmStatsEndpoints
{
    public static void MapVmStatsEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/{id:guid}/stats", async (Guid id, int? minutes, HttpContext http, IDocumentStore store, VmStatsHistory history) =>
        {
            if (minutes is < 1 or > 60)
            {
                return ApiAnswers.Invalid("minutes", "Minutes: from 1 to 60.");
            }

            await using var session = store.QuerySession();
            if (await VmService.FindAsync(session, http.User, id, http.RequestAborted) is not { } vm)
            {
                return VmEndpoints.NotFound();
            }

            return Results.Ok(history.Of(vm.Id, TimeSpan.FromMinutes(minutes ?? 60)).Select(s => VmStatPoint.Of(s, vm.VCpus)));
        }).WithSummary("The VM's use over the last minutes (60 by default): a sample every 5 s while it runs, oldest first, as this portal process saw them.")
            .Produces<IEnumerable<VmStatPoint>>();

        api.MapGet("/{id:guid}/guest", async (Guid id, HttpContext http, IDocumentStore store, VmStatsHistory history) =>
        {
            await using var session = store.QuerySession();
            if (await VmService.FindAsync(session, http.User, id, http.RequestAborted) is not { } vm)
            {
                return VmEndpoints.NotFound();
            }

            var guest = vm.Status == VmStatus.Running ? history.GuestOf(vm.Id) : null;
            var agent = !vm.GuestAgent ? "none" : guest is null ? "unknown" : guest.Answering ? "answering" : "not answering";
            return Results.Ok(new GuestView(agent, guest?.Os, guest?.Hostname, guest?.Nics ?? []));
        }).WithSummary("What the VM's QEMU guest agent says of its guest (the guest's word): whether it answers (none, unknown, answering, not answering), the OS, hostname and each NIC's addresses.")
            .Produces<GuestView>();
    }
}

/// <summary>What the VM's guest agent says of its guest, as the API shows it.</summary>
public sealed record GuestView(string Agent, string? Os, string? Hostname, IReadOnlyList<Paddock.Engine.Contract.GuestNic> Nics);
