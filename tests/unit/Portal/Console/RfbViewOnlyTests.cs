using System.Text;
using Paddock.Portal.Features.Console;

namespace Paddock.Unit.Portal.Console;

/// <summary>A view-only viewer's bytes on their way to QEMU's VNC server: only what asks for pixels passes.</summary>
public sealed class RfbViewOnlyTests
{
    private static readonly byte[] Handshake = [.. Encoding.ASCII.GetBytes("RFB 003.008\n"), 1, 1];

    private static readonly byte[] PixelFormat = [0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0];
    private static readonly byte[] Encodings = [2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21];
    private static readonly byte[] UpdateRequest = [3, 1, 0, 0, 0, 0, 0x04, 0, 0x03, 0];
    private static readonly byte[] Fence = [248, 0, 0, 0, 0, 0, 0, 3, 2, 0xaa, 0xbb];
    private static readonly byte[] ContinuousUpdates = [150, 1, 0, 0, 0, 0, 0x04, 0, 0x03, 0];

    private static readonly byte[] Key = [4, 1, 0, 0, 0, 0, 0, 0x71];
    private static readonly byte[] Pointer = [5, 1, 0, 10, 0, 20];
    private static readonly byte[] Clipboard = [6, 0, 0, 0, 0, 0, 0, 5, .. Encoding.ASCII.GetBytes("rm -r")];
    private static readonly byte[] QemuKey = [255, 0, 0, 1, 0, 0, 0, 0x71, 0, 0, 0, 0x10];
    private static readonly byte[] QemuAudioFormat = [255, 1, 0, 2, 3, 2, 0, 0, 0xac, 0x44];
    private static readonly byte[] Xvp = [250, 0, 1, 4];
    private static readonly byte[] DesktopSize = [251, 0, 4, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0, 0, 0, 0];

    [Fact]
    public void The_handshake_and_what_asks_for_pixels_pass_while_keys_pointer_clipboard_power_and_resizes_do_not()
    {
        byte[] stream = [.. Handshake, .. PixelFormat, .. Key, .. Encodings, .. Pointer, .. UpdateRequest, .. Clipboard, .. Fence,
            .. QemuKey, .. QemuAudioFormat, .. Xvp, .. DesktopSize, .. ContinuousUpdates];
        byte[] expected = [.. Handshake, .. PixelFormat, .. Encodings, .. UpdateRequest, .. Fence, .. ContinuousUpdates];

        Assert.Equal(expected, new RfbViewOnly().Pass(stream));
    }

    [Fact]
    public void Pieces_of_any_size_give_the_same_bytes_as_one_piece()
    {
        byte[] stream = [.. Handshake, .. Encodings, .. Key, .. Clipboard, .. UpdateRequest, .. Fence, .. Pointer, .. UpdateRequest];
        var whole = new RfbViewOnly().Pass(stream);
        foreach (var size in new[] { 1, 2, 3, 7, 13 })
        {
            var filter = new RfbViewOnly();
            var passed = stream.Chunk(size).SelectMany(piece => filter.Pass(piece)).ToArray();
            Assert.Equal(whole, passed);
        }
    }

    [Fact]
    public void The_shared_flag_is_always_set_so_a_viewer_never_ends_the_others_sessions()
    {
        var passed = new RfbViewOnly().Pass([.. Encoding.ASCII.GetBytes("RFB 003.008\n"), 1, 0]);
        Assert.Equal(1, passed[^1]);
    }

    [Fact]
    public void A_long_clipboard_text_is_skipped_as_it_comes_and_not_kept()
    {
        var filter = new RfbViewOnly();
        filter.Pass(Handshake);
        Assert.Empty(filter.Pass([6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]));
        Assert.Empty(filter.Pass(new byte[1 << 20]));
        // Extended clipboard: a negative length, its absolute value follows.
        var extended = new RfbViewOnly();
        extended.Pass(Handshake);
        Assert.Equal(UpdateRequest, extended.Pass([6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 1, 2, 3, 4, .. UpdateRequest]));
    }

    [Theory]
    [InlineData("RFB 003.003\n", new byte[0])]
    [InlineData("RFB 003.008\n", new byte[] { 19 })]
    [InlineData("RFB 003.008\n", new byte[] { 1, 1, 7 })]
    [InlineData("RFB 003.008\n", new byte[] { 1, 1, 255, 9 })]
    [InlineData("RFB 003.008\n", new byte[] { 1, 1, 2, 0, 0xff, 0xff })]
    public void What_it_cannot_read_ends_the_session(string version, byte[] then) =>
        Assert.Throws<InvalidDataException>(() => new RfbViewOnly().Pass([.. Encoding.ASCII.GetBytes(version), .. then]));
}
