using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

/// <summary>qemu-img convert -p's figures, read as they come and with limits.</summary>
public sealed class QemuImgProgressTests
{
    private sealed class Figures : IProgress<double>
    {
        public List<double> Seen { get; } = [];

        public void Report(double value) => Seen.Add(value);
    }

    [Fact]
    public void Each_figure_is_passed_on_however_the_output_is_cut()
    {
        var figures = new Figures();
        var progress = new QemuImgProgress(figures);
        const string output = "    (0.00/100%)\r    (1.01/100%)\r    (45.50/100%)\r    (100.00/100%)\r\n";
        foreach (var piece in output.Chunk(3))
        {
            progress.Feed(piece);
        }

        Assert.Equal([0, 1.01, 45.5, 100], figures.Seen);
    }

    [Theory]
    [InlineData("    (101.00/100%)\r")]
    [InlineData("    (-1.00/100%)\r")]
    [InlineData("(45.00/100%) and more\r")]
    [InlineData("qemu-img: warning\n")]
    public void What_is_not_a_figure_from_0_to_100_is_not_one(string output)
    {
        var figures = new Figures();
        new QemuImgProgress(figures).Feed(output);
        Assert.Empty(figures.Seen);
    }

    [Fact]
    public void An_endless_line_is_dropped_and_the_next_read()
    {
        var figures = new Figures();
        var progress = new QemuImgProgress(figures);
        progress.Feed(new string('(', 1_000_000));
        progress.Feed("(12.00/100%)\r(13.00/100%)\r");
        Assert.Equal([13], figures.Seen);
    }
}
