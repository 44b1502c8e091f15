using System.Globalization;

namespace Paddock.Engine.Isolation;

/// <summary>
/// An MCS category pair <c>s0:cA,cB</c> with 0 &lt;= A &lt; B &lt;= 1023, as libvirt's sVirt gives each VM
/// (security_selinux.c). Two VMs never share a pair, so neither can open the other's files.
/// </summary>
public readonly record struct McsLabel
{
    public McsLabel(int a, int b)
    {
        if (a < 0 || b > IsolationLabels.MaxCategory || a >= b)
            throw new ArgumentOutOfRangeException(nameof(a), $"An MCS pair needs 0 <= A < B <= {IsolationLabels.MaxCategory} (was c{a},c{b}).");
        A = a;
        B = b;
    }

    public int A { get; }

    public int B { get; }

    /// <summary>The pair's position in 0 .. <see cref="IsolationLabels.PairCount"/> - 1 (see <see cref="IsolationLabels.ToIndex"/>).</summary>
    public int Index => IsolationLabels.ToIndex(this);

    /// <summary>Parses <c>s0:cA,cB</c>.</summary>
    public static McsLabel Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.StartsWith("s0:c", StringComparison.Ordinal) ? text[4..].Split(",c") : [];
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var a)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var b)
            && a >= 0 && a < b && b <= IsolationLabels.MaxCategory)
        {
            return new McsLabel(a, b);
        }

        throw new FormatException($"'{text}' is not an MCS pair s0:cA,cB with 0 <= A < B <= {IsolationLabels.MaxCategory}.");
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"s0:c{A},c{B}");
}
