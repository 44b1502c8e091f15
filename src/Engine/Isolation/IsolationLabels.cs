namespace Paddock.Engine.Isolation;

/// <summary>
/// Label maths: the bijection between MCS pairs and indices 0 .. C(1024, 2) - 1, and the VM uid
/// <c>base + index</c>, so a VM's label and its uid always agree and one can be rebuilt from the other.
/// </summary>
/// <remarks>
/// The index is the combinatorial number system (colex order): pair (A, B) maps to C(B, 2) + A.
/// All pairs with a smaller B come first, then A counts within B.
/// </remarks>
public static class IsolationLabels
{
    public const int Categories = 1024;
    public const int MaxCategory = Categories - 1;

    /// <summary>C(1024, 2) = 523 776 distinct pairs.</summary>
    public const int PairCount = Categories * (Categories - 1) / 2;

    public static int ToIndex(McsLabel label) => label.B * (label.B - 1) / 2 + label.A;

    public static McsLabel FromIndex(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, PairCount);
        // Largest B with C(B, 2) <= index; the square root estimate is corrected by at most one either way.
        var b = (int)((1 + Math.Sqrt(1 + 8.0 * index)) / 2);
        while (b * (b - 1) / 2 > index)
            b--;
        while ((b + 1) * b / 2 <= index)
            b++;
        return new McsLabel(index - b * (b - 1) / 2, b);
    }

    /// <summary>
    /// A label index chosen uniformly at random among those not in <paramref name="used"/>, as
    /// libvirt's sVirt picks a free category pair: <paramref name="draw"/> gives a number below its
    /// argument, which is mapped to the n-th free index.
    /// </summary>
    public static int PickFree(IReadOnlyCollection<int> used, Func<int, int> draw)
    {
        var taken = used.Where(i => i is >= 0 and < PairCount).Distinct().Order().ToList();
        if (taken.Count >= PairCount)
            throw new InvalidOperationException($"All {PairCount} labels are in use.");
        var index = draw(PairCount - taken.Count);
        foreach (var t in taken)
        {
            if (t > index)
                break;
            index++;
        }

        return index;
    }

    /// <summary>
    /// <paramref name="count"/> distinct indices drawn at random, to ask which are in use: the first
    /// free one of them is as random a free label as <see cref="PickFree"/> gives, without reading
    /// every label in use (a fleet of 50,000 VMs holds under a tenth of them, so 16 draws all taken
    /// happen about once in 10^16 creates; then <see cref="PickFree"/> decides from the whole list).
    /// </summary>
    public static IReadOnlyList<int> Candidates(int count, Func<int, int> draw)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, PairCount);
        var drawn = new List<int>(count);
        while (drawn.Count < count)
        {
            var index = draw(PairCount);
            if (!drawn.Contains(index))
                drawn.Add(index);
        }

        return drawn;
    }

    /// <summary>The first of <paramref name="candidates"/> not in <paramref name="taken"/>; null when all are taken.</summary>
    public static int? FirstFree(IReadOnlyList<int> candidates, IReadOnlyCollection<int> taken)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(taken);
        foreach (var candidate in candidates)
        {
            if (!taken.Contains(candidate))
                return candidate;
        }

        return null;
    }

    /// <summary>The uid (and gid) of the VM holding <paramref name="label"/>.</summary>
    public static int UidFor(McsLabel label, int uidBase)
    {
        CheckBase(uidBase);
        return uidBase + label.Index;
    }

    /// <summary>The label of the VM running as <paramref name="uid"/>; the inverse of <see cref="UidFor"/>.</summary>
    public static McsLabel LabelForUid(int uid, int uidBase)
    {
        CheckBase(uidBase);
        if (uid < uidBase || uid - uidBase >= PairCount)
            throw new ArgumentOutOfRangeException(nameof(uid), $"uid {uid} is outside the VM range {uidBase} .. {uidBase + PairCount - 1}.");
        return FromIndex(uid - uidBase);
    }

    private static void CheckBase(int uidBase)
    {
        // Below 1000 are system accounts; the whole range must fit in a positive int.
        if (uidBase < 1000 || uidBase > int.MaxValue - PairCount)
            throw new ArgumentOutOfRangeException(nameof(uidBase), $"The VM uid base must be between 1000 and {int.MaxValue - PairCount} (was {uidBase}).");
    }
}
