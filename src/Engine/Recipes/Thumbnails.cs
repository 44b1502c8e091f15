using Paddock.Engine.Interop;
using Paddock.Engine.Qmp;
using Paddock.Engine.Screens;

namespace Paddock.Engine.Recipes;

/// <summary>
/// A small picture of a running VM's screen. QEMU never opens a name for it: the agent makes a file
/// with no name (<see cref="MemoryFile"/>) and hands QEMU a write-only descriptor of it (add-fd) to
/// <c>screendump</c> into. What QEMU wrote is read with limits (<see cref="PpmThumbnail"/>), scaled
/// down, and made a PNG.
/// </summary>
public static class Thumbnails
{
    /// <summary>How wide a thumbnail is at most.</summary>
    public const int MaxWidth = 320;

    /// <summary>How long QEMU has to answer each step.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    public static async Task<byte[]> TakeAsync(QmpClient qmp, CancellationToken ct)
    {
        using var file = new MemoryFile("paddock-screen");
        using (var written = file.OpenWriteOnly())
        {
            var fdset = await qmp.AddFdAsync(written, ct, Patience);
            try
            {
                await qmp.ScreendumpAsync($"/dev/fdset/{fdset}", ct, Patience);
            }
            finally
            {
                await qmp.RemoveFdAsync(fdset, ct, Patience);
            }
        }

        await using var ppm = new BufferedStream(file.OpenRead(), 64 * 1024);
        var (width, height, rgb) = PpmThumbnail.Read(ppm, MaxWidth);
        return Png.Encode(width, height, rgb);
    }
}
