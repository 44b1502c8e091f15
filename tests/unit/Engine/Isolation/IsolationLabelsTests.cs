using Paddock.Engine.Isolation;

namespace Paddock.Unit.Engine.Isolation;

public sealed class IsolationLabelsTests
{
    [Fact]
    public void There_are_C_1024_2_pairs()
    {
        Assert.Equal(523_776, IsolationLabels.PairCount);
    }

    [Fact]
    public void Every_index_round_trips_through_its_pair_and_pairs_are_distinct()
    {
        var seen = new HashSet<McsLabel>();
        for (var index = 0; index < IsolationLabels.PairCount; index++)
        {
            var label = IsolationLabels.FromIndex(index);
            Assert.True(label.A >= 0 && label.A < label.B && label.B <= 1023);
            Assert.Equal(index, label.Index);
            Assert.True(seen.Add(label));
        }
    }

    [Fact]
    public void Every_pair_has_an_index_in_range()
    {
        for (var b = 1; b <= 1023; b++)
        {
            for (var a = 0; a < b; a++)
            {
                var index = new McsLabel(a, b).Index;
                Assert.InRange(index, 0, IsolationLabels.PairCount - 1);
                Assert.Equal(new McsLabel(a, b), IsolationLabels.FromIndex(index));
            }
        }
    }

    [Theory]
    [InlineData(0, 1, 0)]
    [InlineData(0, 2, 1)]
    [InlineData(1, 2, 2)]
    [InlineData(0, 3, 3)]
    [InlineData(392, 662, 219_183)]
    [InlineData(1022, 1023, 523_775)]
    public void Known_pairs_have_known_indices(int a, int b, int index)
    {
        Assert.Equal(index, new McsLabel(a, b).Index);
        Assert.Equal(new McsLabel(a, b), IsolationLabels.FromIndex(index));
    }

    [Theory]
    [InlineData(-1, 5)]
    [InlineData(5, 5)]
    [InlineData(6, 5)]
    [InlineData(0, 1024)]
    public void Pairs_outside_0_le_A_lt_B_le_1023_are_refused(int a, int b)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new McsLabel(a, b));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(523_776)]
    public void Indices_outside_the_range_are_refused(int index)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => IsolationLabels.FromIndex(index));
    }

    [Fact]
    public void Label_prints_and_parses_as_s0_cA_cB()
    {
        var label = new McsLabel(392, 662);

        Assert.Equal("s0:c392,c662", label.ToString());
        Assert.Equal(label, McsLabel.Parse("s0:c392,c662"));
    }

    [Theory]
    [InlineData("s0:c662,c392")]
    [InlineData("s0:c1,c1")]
    [InlineData("s0:c1,c1024")]
    [InlineData("s1:c1,c2")]
    [InlineData("s0:c1")]
    [InlineData("s0:c-1,c2")]
    [InlineData("s0:c 1,c2")]
    public void Malformed_labels_do_not_parse(string text)
    {
        Assert.Throws<FormatException>(() => McsLabel.Parse(text));
    }

    [Fact]
    public void Uid_is_base_plus_index_and_maps_back_to_the_label()
    {
        const int uidBase = 200_000;
        var label = new McsLabel(392, 662);

        var uid = IsolationLabels.UidFor(label, uidBase);

        Assert.Equal(uidBase + 219_183, uid);
        Assert.Equal(label, IsolationLabels.LabelForUid(uid, uidBase));
        Assert.Equal(uidBase, IsolationLabels.UidFor(new McsLabel(0, 1), uidBase));
        Assert.Equal(uidBase + IsolationLabels.PairCount - 1, IsolationLabels.UidFor(new McsLabel(1022, 1023), uidBase));
    }

    [Fact]
    public void Uids_outside_the_vm_range_and_bad_bases_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => IsolationLabels.LabelForUid(199_999, 200_000));
        Assert.Throws<ArgumentOutOfRangeException>(() => IsolationLabels.LabelForUid(200_000 + IsolationLabels.PairCount, 200_000));
        Assert.Throws<ArgumentOutOfRangeException>(() => IsolationLabels.UidFor(new McsLabel(0, 1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => IsolationLabels.UidFor(new McsLabel(0, 1), int.MaxValue));
    }

    [Fact]
    public void A_free_label_is_drawn_among_the_free_pairs_only()
    {
        int[] used = [0, 1, 2, 5];

        // Draw n gives the n-th free index: 3, 4, 6, 7, ...
        Assert.Equal(3, IsolationLabels.PickFree(used, _ => 0));
        Assert.Equal(4, IsolationLabels.PickFree(used, _ => 1));
        Assert.Equal(6, IsolationLabels.PickFree(used, _ => 2));
        Assert.Equal(IsolationLabels.PairCount - 1, IsolationLabels.PickFree(used, n => n - 1));
        // The draw's range is the number of free pairs.
        var asked = 0;
        IsolationLabels.PickFree(used, n => asked = n);
        Assert.Equal(IsolationLabels.PairCount - used.Length, asked);
    }

    [Fact]
    public void Candidates_are_distinct_draws_over_every_pair_and_the_first_free_one_is_taken()
    {
        // A draw that repeats itself: the repeats are drawn again, never kept twice.
        int[] draws = [7, 7, 3, 7, 9];
        var next = 0;
        var asked = new List<int>();
        var candidates = IsolationLabels.Candidates(3, n => { asked.Add(n); return draws[next++]; });

        Assert.Equal([7, 3, 9], candidates);
        Assert.All(asked, n => Assert.Equal(IsolationLabels.PairCount, n));
        Assert.Equal(3, IsolationLabels.FirstFree(candidates, new HashSet<int> { 7 }));
        Assert.Equal(7, IsolationLabels.FirstFree(candidates, new HashSet<int> { 3 }));
        Assert.Null(IsolationLabels.FirstFree(candidates, new HashSet<int> { 3, 7, 9 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => IsolationLabels.Candidates(0, _ => 0));
    }

    [Fact]
    public void Every_draw_gives_a_different_free_label()
    {
        var used = Enumerable.Range(0, 1000).Where(i => i % 3 == 0).ToList();
        var picked = Enumerable.Range(0, 2000).Select(n => IsolationLabels.PickFree(used, _ => n)).ToList();

        Assert.Equal(picked.Count, picked.Distinct().Count());
        Assert.DoesNotContain(picked, used.Contains);
    }
}
