using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;

namespace Paddock.Engine.Isolation;

/// <summary>
/// Who is at the other end of a unix socket, from the kernel (<c>SO_PEERCRED</c>, unix(7)). A VM's
/// sockets live in a directory its uid can write, so the name the agent connects to may be a link
/// the VM planted to another VM's console or to a host service: the agent checks that the process
/// listening there is that VM's own QEMU before it sends or reads a byte.
/// </summary>
public static class UnixPeer
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>The peer's pid, uid and gid (for a listening socket: whoever called listen(2)).</summary>
    public static (int Pid, int Uid, int Gid) Of(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        Span<byte> ucred = stackalloc byte[12];
        var read = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (read < ucred.Length)
            throw new IOException($"SO_PEERCRED gave {read} bytes, not {ucred.Length}.");
        return (BinaryPrimitives.ReadInt32LittleEndian(ucred),
            BinaryPrimitives.ReadInt32LittleEndian(ucred[4..]),
            BinaryPrimitives.ReadInt32LittleEndian(ucred[8..]));
    }

    /// <summary>Throws <see cref="UnexpectedPeerException"/> unless the peer is process <paramref name="pid"/>.</summary>
    public static void Expect(Socket socket, int pid, string what)
    {
        if (!OperatingSystem.IsLinux())
            return;
        var peer = Of(socket);
        if (peer.Pid != pid)
            throw new UnexpectedPeerException(what, pid, peer.Pid, peer.Uid);
    }

    /// <summary>Connects to <paramref name="path"/> and returns the socket once its peer is process <paramref name="pid"/>.</summary>
    public static async Task<Socket> ConnectAsync(string path, int pid, string what, CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
            Expect(socket, pid, what);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>A unix socket answered from another process than the VM's QEMU: a planted link, or a stale socket.</summary>
public sealed class UnexpectedPeerException(string what, int expectedPid, int pid, int uid)
    : TamperingException(string.Create(CultureInfo.InvariantCulture,
        $"Refused {what}: the socket is served by pid {pid} (uid {uid}), not by the VM's QEMU (pid {expectedPid})."))
{
    public int ExpectedPid { get; } = expectedPid;

    public int PeerPid { get; } = pid;
}
