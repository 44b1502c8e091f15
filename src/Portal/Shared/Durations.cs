using System.Globalization;

namespace Paddock.Portal.Shared;

/// <summary>Spans of time in words, as leases, quotas and flavors show their longest lease.</summary>
public static class Durations
{
    /// <summary>"1 minute", "2 hours", "7 days", "1 day 6 hours".</summary>
    public static string Describe(TimeSpan span)
    {
        static string Unit(long n, string unit) => n == 1 ? $"1 {unit}" : $"{n.ToString(CultureInfo.InvariantCulture)} {unit}s";
        if (span < TimeSpan.FromMinutes(1))
        {
            return Unit((long)Math.Max(0, Math.Round(span.TotalSeconds)), "second");
        }

        var parts = new List<string>();
        if (span.Days > 0)
        {
            parts.Add(Unit(span.Days, "day"));
        }

        if (span.Hours > 0)
        {
            parts.Add(Unit(span.Hours, "hour"));
        }

        if (span.Minutes > 0 && span.Days == 0)
        {
            parts.Add(Unit(span.Minutes, "minute"));
        }

        return parts.Count == 0 ? Unit(span.Days, "day") : string.Join(" ", parts);
    }
}
