using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Paddock.Engine.Screens;

namespace Paddock.Unit.Engine.Screens;

/// <summary>A screen dump as QEMU writes it, read with limits and scaled down; the PNG it becomes.</summary>
public sealed class ThumbnailTests
{
    private static MemoryStream Ppm(string header, int pixels, Func<int, byte>? value = null) =>
        new([.. Encoding.ASCII.GetBytes(header), .. Enumerable.Range(0, pixels * 3).Select(i => value?.Invoke(i) ?? (byte)i)]);

    [Fact]
    public void A_screen_is_scaled_to_the_width_asked_each_pixel_the_average_of_its_block()
    {
        // 8x4, every channel of column x is 10*x: halved, each pixel averages two columns.
        var (width, height, rgb) = PpmThumbnail.Read(Ppm("P6\n8 4\n255\n", 32, i => (byte)(10 * (i / 3 % 8))), maxWidth: 4);
        Assert.Equal((4, 2), (width, height));
        Assert.Equal(new byte[] { 5, 5, 5, 25, 25, 25, 45, 45, 45, 65, 65, 65 }, rgb[..12]);
    }

    [Fact]
    public void A_screen_narrower_than_asked_keeps_its_size()
    {
        var (width, height, rgb) = PpmThumbnail.Read(Ppm("P6 3 2 255\n", 6), maxWidth: 320);
        Assert.Equal((3, 2, 18), (width, height, rgb.Length));
        Assert.Equal(Enumerable.Range(0, 18).Select(i => (byte)i), rgb);
    }

    [Theory]
    [InlineData("P3\n2 2\n255\n", 4)]
    [InlineData("P6\n2 2\n65535\n", 4)]
    [InlineData("P6\n9000 2\n255\n", 4)]
    [InlineData("P6\n2 999999\n255\n", 4)]
    [InlineData("P6\n0 2\n255\n", 4)]
    [InlineData("P6\n2x2\n255\n", 4)]
    [InlineData("P6\n4 4\n255\n", 5)]
    public void A_dump_that_is_not_what_screendump_writes_is_refused(string header, int pixels) =>
        Assert.Throws<InvalidDataException>(() => PpmThumbnail.Read(Ppm(header, pixels), maxWidth: 320));

    [Fact]
    public void The_png_has_its_size_in_its_header_and_its_pixels_in_its_data()
    {
        byte[] rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9];
        var png = Png.Encode(2, 2, rgb);
        Assert.Equal(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }, png[..8]);
        Assert.Equal("IHDR", Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal((2, 2), (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
        var idatLength = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(33));
        Assert.Equal("IDAT", Encoding.ASCII.GetString(png, 37, 4));
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(new MemoryStream(png, 41, idatLength), CompressionMode.Decompress))
        {
            zlib.CopyTo(inflated);
        }

        Assert.Equal(new byte[] { 0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 9, 9, 9 }, inflated.ToArray());
        Assert.Equal("IEND", Encoding.ASCII.GetString(png, png.Length - 8, 4));
    }
}
