using System.Globalization;
using System.Text.RegularExpressions;

namespace Paddock.Engine.Images;

/// <summary>
/// What <c>qemu-img convert -p</c> prints as it goes ("    (45.00/100%)" and a carriage return),
/// read as it comes. qemu-img reads hostile disks, so its output is read with limits: a line longer
/// than <see cref="MaxLine"/> is dropped, and a figure outside 0 to 100 is not one.
/// </summary>
public sealed partial class QemuImgProgress(IProgress<double> percent)
{
    public const int MaxLine = 64;

    private readonly System.Text.StringBuilder _line = new();
    private bool _overlong;

    /// <summary>Reads <paramref name="output"/> to its end, passing on each figure.</summary>
    public async Task ReadAsync(TextReader output)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await output.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            Feed(buffer.AsSpan(0, read));
        }
    }

    public void Feed(ReadOnlySpan<char> chunk)
    {
        foreach (var c in chunk)
        {
            if (c is '\r' or '\n')
            {
                if (!_overlong && Figure().Match(_line.ToString()) is { Success: true } match
                    && double.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 100)
                {
                    percent.Report(value);
                }

                _line.Clear();
                _overlong = false;
            }
            else if (_line.Length < MaxLine)
            {
                _line.Append(c);
            }
            else
            {
                _overlong = true;
            }
        }
    }

    [GeneratedRegex(@"^\s*\((\d{1,3}(?:\.\d{1,2})?)/100%\)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex Figure();
}
