namespace Paddock.Engine.Screens;

/// <summary>
/// A screen as QEMU's <c>screendump</c> writes it (binary PPM, "P6"), read with limits and scaled
/// down as it is read: QEMU is hostile, so the header is read strictly, the picture may be no
/// larger than <see cref="MaxSide"/> a side, and no more than its rows are ever read. Each pixel of
/// the thumbnail is the average of the block of the screen it stands for.
/// </summary>
public static class PpmThumbnail
{
    /// <summary>The widest or tallest screen read (QEMU's own displays stop well below).</summary>
    public const int MaxSide = 8192;

    /// <summary>Reads the PPM in <paramref name="ppm"/> and returns it at most <paramref name="maxWidth"/> wide, RGB, row by row.</summary>
    /// <exception cref="InvalidDataException">Not a PPM as <c>screendump</c> writes one, too large, or cut short.</exception>
    public static (int Width, int Height, byte[] Rgb) Read(Stream ppm, int maxWidth)
    {
        var (width, height) = Header(ppm);
        var scale = Math.Max(1, (width + maxWidth - 1) / maxWidth);
        var (outWidth, outHeight) = (Math.Max(1, width / scale), Math.Max(1, height / scale));
        var sums = new long[outWidth * 3];
        var counts = new int[outWidth];
        var rgb = new byte[outWidth * outHeight * 3];
        var row = new byte[width * 3];
        for (var y = 0; y < outHeight * scale; y++)
        {
            try
            {
                ppm.ReadExactly(row);
            }
            catch (EndOfStreamException)
            {
                throw new InvalidDataException($"The screen dump ends before row {y + 1} of {height}.");
            }

            for (var x = 0; x < outWidth * scale; x++)
            {
                var o = x / scale;
                counts[o]++;
                for (var c = 0; c < 3; c++)
                {
                    sums[(o * 3) + c] += row[(x * 3) + c];
                }
            }

            if ((y + 1) % scale == 0)
            {
                var line = ((y + 1) / scale) - 1;
                for (var i = 0; i < sums.Length; i++)
                {
                    rgb[(line * outWidth * 3) + i] = (byte)(sums[i] / counts[i / 3]);
                }

                Array.Clear(sums);
                Array.Clear(counts);
            }
        }

        return (outWidth, outHeight, rgb);
    }

    /// <summary>"P6", width, height and "255", each after whitespace, then exactly one whitespace byte.</summary>
    private static (int Width, int Height) Header(Stream ppm)
    {
        if (ppm.ReadByte() != 'P' || ppm.ReadByte() != '6')
        {
            throw new InvalidDataException("The screen dump is not a binary PPM.");
        }

        var width = Number(ppm);
        var height = Number(ppm);
        if (Number(ppm) != 255)
        {
            throw new InvalidDataException("The screen dump is not 8 bits a channel.");
        }

        return width is < 1 or > MaxSide || height is < 1 or > MaxSide
            ? throw new InvalidDataException($"The screen dump is {width}x{height}; at most {MaxSide} a side.")
            : (width, height);
    }

    /// <summary>Whitespace, then up to 5 digits, then the one whitespace byte that ends them.</summary>
    private static int Number(Stream ppm)
    {
        int b;
        do
        {
            b = ppm.ReadByte();
        }
        while (b is ' ' or '\n' or '\r' or '\t');

        var value = 0;
        for (var digits = 0; b is >= '0' and <= '9'; digits++, b = ppm.ReadByte())
        {
            value = digits < 5 ? (value * 10) + (b - '0') : throw new InvalidDataException("A number in the screen dump's header is too long.");
        }

        return b is ' ' or '\n' or '\r' or '\t' && value > 0 ? value : throw new InvalidDataException("The screen dump's header is not a PPM's.");
    }
}
