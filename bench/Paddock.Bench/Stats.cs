namespace Paddock.Bench;

/// <summary>Mean, median, min and max of one series of timings, in milliseconds.</summary>
public sealed record Summary(double Mean, double Median, double Min, double Max)
{
    public static Summary Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0)
        {
            throw new ArgumentException("No samples.", nameof(samples));
        }

        var sorted = samples.Order().ToArray();
        var middle = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Summary(sorted.Average(), median, sorted[0], sorted[^1]);
    }
}

/// <summary>The printed table: one header per benchmark, one row per series, ratios of medians.</summary>
public static class Table
{
    private const int LabelWidth = 44;

    public static void Header(string title) =>
        Console.WriteLine($"{title,-LabelWidth}{"mean",9}{"median",9}{"min",9}{"max",9}   (ms)");

    public static void Row(string label, IReadOnlyCollection<double> samples)
    {
        var s = Summary.Of(samples);
        Console.WriteLine($"  {label,-(LabelWidth - 2)}{s.Mean,9:0.0}{s.Median,9:0.0}{s.Min,9:0.0}{s.Max,9:0.0}");
    }

    public static void Ratio(string label, IReadOnlyCollection<double> numerator, IReadOnlyCollection<double> denominator) =>
        Console.WriteLine($"  {label,-(LabelWidth - 2)}{Summary.Of(numerator).Median / Summary.Of(denominator).Median,9:0.00}");

    /// <summary>
    /// The ratio of each pair (the i-th sample of each side, taken one right after the other): its
    /// median and, as its spread, the interquartile range (the middle half of the pairs' ratios).
    /// </summary>
    public static void PairedRatio(string label, IReadOnlyList<double> numerator, IReadOnlyList<double> denominator)
    {
        var ratios = numerator.Zip(denominator, (n, d) => n / d).Order().ToArray();
        Console.WriteLine($"  {label,-(LabelWidth - 2)}{Quantile(ratios, 0.5),9:0.00}   middle half of the {ratios.Length} pairs {Quantile(ratios, 0.25):0.00} to {Quantile(ratios, 0.75):0.00}");
    }

    /// <summary>The <paramref name="q"/> quantile of sorted values, interpolated between the two nearest.</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        var at = q * (sorted.Count - 1);
        var below = (int)Math.Floor(at);
        return below + 1 < sorted.Count ? sorted[below] + (at - below) * (sorted[below + 1] - sorted[below]) : sorted[below];
    }

    /// <summary>Median of <paramref name="minuend"/> minus median of <paramref name="subtrahend"/>, in ms.</summary>
    public static void Difference(string label, IReadOnlyCollection<double> minuend, IReadOnlyCollection<double> subtrahend) =>
        Console.WriteLine($"  {label,-(LabelWidth - 2)}{Summary.Of(minuend).Median - Summary.Of(subtrahend).Median,9:+0.0;-0.0;0.0}");

    public static void Samples(string label, IEnumerable<double> samples) =>
        Console.WriteLine($"    {label}: {string.Join("  ", samples.Select(v => v.ToString("0.0")))}");
}
