using System.Globalization;

namespace Paddock.Portal.Features.Vms;

/// <summary>One line of a <c>StatChart</c>: its key (<c>data-series</c>), label, colour and the figure it draws of each sample (NaN: none).</summary>
public sealed record StatLine(string Key, string Label, string Color, Func<VmSample, double> Value);

/// <summary>How the charts and the top table write figures, and where a chart's scale ends.</summary>
public static class StatScale
{
    /// <summary>The smallest 1, 2 or 5 times a power of ten at or above <paramref name="value"/>; 1 for nothing.</summary>
    public static double NiceCeiling(double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
            return 1;
        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1.0, 2.0, 5.0, 10.0 })
        {
            if (value <= step * power * (1 + 1e-9))
                return step * power;
        }

        return 10 * power;
    }

    public static string Percent(double value) => $"{value.ToString("0", CultureInfo.InvariantCulture)} %";

    public static string Bytes(double value) => Scaled(value, "B");

    public static string BytesPerSecond(double value) => Scaled(value, "B/s");

    public static string PerSecond(double value) => $"{value.ToString(value < 10 ? "0.#" : "0", CultureInfo.InvariantCulture)}/s";

    /// <summary>In binary steps: 512 B, 1.5 KiB, 20 MiB, 1.2 GiB.</summary>
    private static string Scaled(double value, string unit)
    {
        string[] prefixes = ["", "Ki", "Mi", "Gi", "Ti"];
        var i = 0;
        while (Math.Abs(value) >= 1024 && i < prefixes.Length - 1)
        {
            value /= 1024;
            i++;
        }

        return $"{value.ToString(i == 0 || value >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture)} {prefixes[i]}{unit}";
    }
}
