using System.Buffers.Binary;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// What a view-only viewer's browser may say to the VM's VNC server (RFB 3.7 or 3.8, RFC 6143):
/// the handshake, then only the messages that ask for pixels. Key and pointer events, clipboard
/// text, desktop resizes, power requests (xvp) and QEMU's own key and audio messages are dropped;
/// the shared flag is always set, so a viewer never ends the others' sessions; a message it cannot
/// read ends the session (<see cref="InvalidDataException"/>). Fed the browser's bytes as they come,
/// in pieces of any size. The browser is not trusted to be in view-only mode: this is the wall.
/// </summary>
public sealed class RfbViewOnly
{
    /// <summary>The most encodings a SetEncodings may list (noVNC sends about 20).</summary>
    public const int MaxEncodings = 1024;

    private enum Stage { Version, Security, VncAuthResponse, ClientInit, Messages }

    private Stage _stage;

    /// <param name="afterHandshake">The portal does the handshake itself (<see cref="RfbPreface"/>): only messages come.</param>
    public RfbViewOnly(bool afterHandshake = false) => _stage = afterHandshake ? Stage.Messages : Stage.Version;
    private readonly List<byte> _pending = [];

    /// <summary>Bytes of a dropped message still to come (clipboard text may be long): not kept.</summary>
    private long _skip;

    /// <summary>The part of <paramref name="input"/> (with what came before it) that may reach the VM.</summary>
    public byte[] Pass(ReadOnlySpan<byte> input)
    {
        var passed = new List<byte>(input.Length);
        var offset = 0;
        while (offset < input.Length)
        {
            if (_skip > 0)
            {
                var skipped = (int)Math.Min(_skip, input.Length - offset);
                _skip -= skipped;
                offset += skipped;
                continue;
            }

            _pending.Add(input[offset++]);
            if (Unit() is { } length && _pending.Count == length)
            {
                Finish(passed);
            }
        }

        return [.. passed];
    }

    /// <summary>How long the unit begun in <see cref="_pending"/> is, once enough of it is there to tell; null until then.</summary>
    private int? Unit() => _stage switch
    {
        Stage.Version => 12,
        Stage.Security or Stage.ClientInit => 1,
        Stage.VncAuthResponse => 16,
        _ => MessageLength(),
    };

    private int? MessageLength()
    {
        var header = _pending;
        int? At(int needed, Func<int?> length) => header.Count >= needed ? length() : null;
        ushort U16(int at) => BinaryPrimitives.ReadUInt16BigEndian([header[at], header[at + 1]]);
        return header[0] switch
        {
            0 => 20, // SetPixelFormat
            2 => At(4, () => EncodingsLength(U16(2))),
            3 => 10, // FramebufferUpdateRequest
            4 => 8, // KeyEvent
            5 => 6, // PointerEvent
            6 => 8, // ClientCutText: its text is skipped, never kept
            150 => 10, // EnableContinuousUpdates
            248 => At(9, () => 9 + header[8]), // ClientFence
            250 => 4, // xvp (power)
            251 => At(8, () => 8 + (16 * header[6])), // SetDesktopSize
            255 => At(2, () => header[1] switch
            {
                0 => 12, // QEMU extended key event
                1 => At(4, () => U16(2) == 2 ? 10 : 4), // QEMU audio: set-format carries 6 more bytes
                var sub => throw new InvalidDataException($"Unknown QEMU client message {sub}."),
            }),
            var type => throw new InvalidDataException($"Unknown RFB client message type {type}."),
        };
    }

    private static int EncodingsLength(int count) => count <= MaxEncodings
        ? 4 + (4 * count) : throw new InvalidDataException($"SetEncodings lists {count} encodings; at most {MaxEncodings}.");

    private void Finish(List<byte> passed)
    {
        switch (_stage)
        {
            case Stage.Version:
                var version = System.Text.Encoding.ASCII.GetString([.. _pending]);
                _stage = version is "RFB 003.008\n" or "RFB 003.007\n" ? Stage.Security
                    : throw new InvalidDataException("A view-only console speaks RFB 3.7 or 3.8.");
                passed.AddRange(_pending);
                break;
            case Stage.Security:
                _stage = _pending[0] switch
                {
                    1 => Stage.ClientInit,
                    2 => Stage.VncAuthResponse,
                    var type => throw new InvalidDataException($"Security type {type} is not one a view-only console passes."),
                };
                passed.AddRange(_pending);
                break;
            case Stage.VncAuthResponse:
                _stage = Stage.ClientInit;
                passed.AddRange(_pending);
                break;
            case Stage.ClientInit:
                _stage = Stage.Messages;
                passed.Add(1);
                break;
            default:
                PassOrDrop(passed);
                break;
        }

        _pending.Clear();
    }

    private void PassOrDrop(List<byte> passed)
    {
        switch (_pending[0])
        {
            case 0 or 2 or 3 or 150 or 248:
                passed.AddRange(_pending);
                break;
            case 6:
                // Negative: the extended clipboard's length, as its absolute value.
                _skip = Math.Abs((long)BinaryPrimitives.ReadInt32BigEndian([.. _pending.GetRange(4, 4)]));
                break;
        }
    }
}
