using System.Globalization;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// Compares what a host reports of a VM's isolation (its own record's label and uid, and whom the
/// kernel says its QEMU runs as) with the portal's record. What the report leaves out (an older
/// agent, a VM that does not run) is not a disagreement; a record the host could not read (its
/// spec.json moved aside) is one: the portal's record is to be sent again.
/// </summary>
public static class VmIsolationCheck
{
    /// <summary>Every disagreement, in one sentence for admins; null when the host and the portal agree.</summary>
    public static string? Disagreement(string label, int uid, VmReport report)
    {
        var found = new List<string>();
        if (report.Label is { } reportedLabel && reportedLabel != label)
        {
            found.Add($"label {reportedLabel} on the host, {label} in the portal");
        }

        if (report.Uid is { } reportedUid && reportedUid != uid)
        {
            found.Add($"uid {Number(reportedUid)} on the host, {Number(uid)} in the portal");
        }

        if (report.RunningUid is { } runningUid && runningUid != uid || report.RunningGid is { } runningGid && runningGid != uid)
        {
            found.Add($"QEMU runs as uid {Number(report.RunningUid)} gid {Number(report.RunningGid)}, the portal's record says {Number(uid)}");
        }

        if (report.RecordProblem is { } problem)
        {
            found.Add((problem.Length <= MaxProblemLength ? problem : problem[..MaxProblemLength] + "…").TrimEnd('.'));
        }

        return found.Count == 0 ? null : string.Join("; ", found) + ".";
    }

    /// <summary>What of a host's sentence an alert keeps: a page shows it whole.</summary>
    private const int MaxProblemLength = 500;

    private static string Number(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "?";
}
