using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Paddock.Portal.Shared;

/// <summary>
/// Paddock's own metrics, on the meter <c>Paddock</c> (scraped at <c>/api/metrics</c>, see the
/// Telemetry feature): what features record as it happens. What is read from the store (VMs by
/// state, the command queue, hosts, per-VM use) is observed by <c>FleetGauges</c> on the same meter.
/// </summary>
public static class PortalMetrics
{
    public const string MeterName = "Paddock";

    public static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Operations =
        Meter.CreateCounter<long>("paddock.operations", description: "VM operations ended, by verb and outcome.");

    private static readonly Histogram<double> OperationDuration =
        Meter.CreateHistogram<double>("paddock.operation.duration", unit: "s", description: "From asking for a VM operation to its end, by verb and outcome.");

    private static readonly Counter<long> Refusals =
        Meter.CreateCounter<long>("paddock.admission.refusals", description: "Creates refused, by reason.");

    private static readonly Histogram<double> PlacementDuration =
        Meter.CreateHistogram<double>("paddock.placement.duration", unit: "s", description: "How long placement took to choose a host (or find none).");

    public static void OperationEnded(string verb, bool succeeded, TimeSpan took)
    {
        var tags = new TagList { { "verb", verb }, { "outcome", succeeded ? "succeeded" : "failed" } };
        Operations.Add(1, tags);
        OperationDuration.Record(Math.Max(0, took.TotalSeconds), tags);
    }

    /// <summary>A create refused: <paramref name="reason"/> is one of a few words (quota, no-host, needs-approval, invalid, refused).</summary>
    public static void AdmissionRefused(string reason) => Refusals.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public static void PlacementDecided(TimeSpan took, bool placed) =>
        PlacementDuration.Record(took.TotalSeconds, new KeyValuePair<string, object?>("placed", placed));
}
