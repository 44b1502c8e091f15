using System.Net.Sockets;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;
using Paddock.Host.Node;
using Paddock.Host.Portal;
using Paddock.Host.Vms;

namespace Paddock.Host.Migration;

/// <summary>
/// A migration's channels on this host: each QEMU connection (the memory stream, one NBD connection
/// per disk) is spliced to a WebSocket the agent dials to the portal, which splices it to the other
/// host's. QEMU only ever talks to unix sockets: on the destination it listens in its own directory
/// and the agent connects (its peer checked: <c>SO_PEERCRED</c>); on the source the agent listens in
/// the root-owned run directory, on a socket only the VM's uid may open, and checks who connected.
/// </summary>
public sealed class MigrationChannels(PortalSockets portal, ConfinementGuard guard, ILogger<MigrationChannels> log)
{
    /// <summary>Memory moves in large frames: fewer WebSocket frames per megabyte.</summary>
    private const int BufferBytes = 1024 * 1024;

    /// <summary>The destination's side: one channel per disk to QEMU's NBD server, one to its incoming stream.</summary>
    public async Task OpenIncomingAsync(VmRuntime vm, MigrationLink link, CancellationToken ct)
    {
        var state = vm.Migration!;
        var pid = vm.Process!.Pid;
        for (var i = 0; i < link.Channels; i++)
        {
            await OpenAsync(state, link, MigrationLink.DiskChannel(i), vm.Paths.IncomingDisksSocket, pid, ct);
        }

        await OpenAsync(state, link, MigrationLink.MemoryChannel, vm.Paths.IncomingMemorySocket, pid, ct);
    }

    /// <summary>
    /// The source's side: listens where the VM's QEMU will connect (its disks' mirrors, then the
    /// memory stream) and splices each connection to its channel, until the migration ends.
    /// </summary>
    public async Task ListenOutgoingAsync(VmRuntime vm, MigrationLink link, CancellationToken ct)
    {
        var state = vm.Migration!;
        var spec = vm.CreatedSpec;
        var pid = vm.Process!.Pid;
        var disks = await ListenAsync(vm.Paths.MigrationDisksSocket, spec, ct);
        var memory = await ListenAsync(vm.Paths.MigrationMemorySocket, spec, ct);
        state.Track(AcceptAsync(disks, vm.Paths.MigrationDisksSocket, link.Channels, MigrationLink.DiskChannel, state, link, pid));
        state.Track(AcceptAsync(memory, vm.Paths.MigrationMemorySocket, 1, _ => MigrationLink.MemoryChannel, state, link, pid));
    }

    private async Task<Socket> ListenAsync(string path, VmSpec spec, CancellationToken ct)
    {
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(4);
            // QEMU runs as the VM's uid: the socket is its to open, and nobody else's.
            var (uid, gid) = guard.IdsOf(spec);
            RunDirectory.SecureSocket(path, uid, gid);
            await guard.LabelOwnAsync(spec, path, ct);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    private async Task AcceptAsync(Socket listener, string path, int count, Func<int, string> channel, MigrationState state, MigrationLink link, int pid)
    {
        using (listener)
        {
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var connection = await listener.AcceptAsync(state.ChannelsEnd);
                    try
                    {
                        UnixPeer.Expect(connection, pid, $"the migration's {channel(i)} channel");
                    }
                    catch
                    {
                        connection.Dispose();
                        throw;
                    }

                    await SpliceAsync(state, link, channel(i), connection, state.ChannelsEnd);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or System.Net.WebSockets.WebSocketException)
            {
                log.LogDebug(e, "Migration {Migration}: no more connections on {Path}", link.MigrationId, path);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    private async Task OpenAsync(MigrationState state, MigrationLink link, string channel, string qemuSocket, int pid, CancellationToken ct)
    {
        var connection = await UnixPeer.ConnectAsync(qemuSocket, pid, $"the migration's {channel} channel", ct);
        await SpliceAsync(state, link, channel, connection, ct);
    }

    /// <summary>Dials the channel at the portal and splices it to <paramref name="connection"/> in the background, until either ends or the migration does.</summary>
    private async Task SpliceAsync(MigrationState state, MigrationLink link, string channel, Socket connection, CancellationToken ct)
    {
        var local = new NetworkStream(connection, ownsSocket: true);
        System.Net.WebSockets.ClientWebSocket socket;
        try
        {
            socket = await portal.DialAsync($"/migration/agent/{Uri.EscapeDataString(link.Token)}/{channel}", ct, link.Portal);
        }
        catch
        {
            await local.DisposeAsync();
            throw;
        }

        state.Track(Task.Run(async () =>
        {
            await using (local)
            using (socket)
            {
                var localEnded = await PortalSockets.SpliceAsync(local, socket, oneWay: false, state.ChannelsEnd, BufferBytes);
                log.LogInformation("Migration {Migration}: channel {Channel} ended by the {Side} side", link.MigrationId, channel, localEnded ? "QEMU" : "portal");
            }
        }, CancellationToken.None));
    }
}
