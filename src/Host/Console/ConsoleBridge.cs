using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Host.Portal;

namespace Paddock.Host.Console;

/// <summary>
/// One console session: the agent dials a binary WebSocket back to the portal (the host needs no
/// inbound port) and splices it to the VM's VNC or serial unix socket, which only the agent can
/// open, or sends the serial log or a thumbnail of the screen (<see cref="Thumbnails"/>) down it.
/// </summary>
/// <remarks>
/// The sockets are QEMU's, in a directory the VM's uid writes: a name there may be a link the VM
/// planted to another VM's console or a host service, so the agent talks only to a socket its
/// VM's own QEMU serves (SO_PEERCRED). The serial log is read without following a link, as
/// long as it was when the download began (<see cref="SerialLog.OpenDownload"/>).
/// </remarks>
public sealed class ConsoleBridge(
    IOptions<AgentOptions> options, Vms.VmTable vms, Portal.PortalSockets sockets, ILogger<ConsoleBridge> log)
{
    /// <summary>Opens the VM's end at once, so a refusal reaches the portal with its reason; the session then runs on its own.</summary>
    public async Task<CommandAck> AcceptAsync(ConsoleDial dial)
    {
        if (!sockets.MayDial(dial.Portal))
        {
            log.LogWarning("Console of VM {Vm} refused: {Portal} is not among this agent's portal addresses", dial.VmId, dial.Portal);
            return CommandAck.Refuse(Guid.Empty, $"The host does not dial {dial.Portal}: add it to the agent's Agent:PortalAddresses.");
        }

        var paths = VmPaths.For(options.Value.VmsDir, dial.VmId);
        var pid = vms.QemuPid(dial.VmId);
        if (dial.Kind == ConsoleKind.SerialLog ? !File.Exists(paths.SerialLog) : pid is null)
        {
            return CommandAck.Refuse(Guid.Empty, dial.Kind == ConsoleKind.SerialLog ? "The VM has no serial log yet." : "The VM is not running on this host.");
        }

        Stream target;
        try
        {
            target = dial.Kind == ConsoleKind.Thumbnail
                ? new MemoryStream(await Thumbnails.TakeAsync(vms.Find(dial.VmId)!.RunningMonitor(), CancellationToken.None))
                : await OpenAsync(dial.Kind, paths, pid ?? 0);
        }
        catch (Exception e) when (e is IOException or SocketException or QmpException or InvalidOperationException or InvalidDataException or TimeoutException)
        {
            log.LogWarning("{Kind} console of VM {Vm} refused: {Message}", dial.Kind, dial.VmId, e.Message);
            return CommandAck.Refuse(Guid.Empty, e.Message, TamperingException.IsCause(e));
        }

        _ = Task.Run(() => RunAsync(dial, target));
        return CommandAck.Accept(Guid.Empty);
    }

    private static async Task<Stream> OpenAsync(ConsoleKind kind, VmPaths paths, int qemuPid)
    {
        if (kind == ConsoleKind.SerialLog)
        {
            // QEMU keeps appending while we read: what was there when the download began is sent.
            return SerialLog.OpenDownload(paths);
        }

        var socket = await UnixPeer.ConnectAsync(kind == ConsoleKind.Vnc ? paths.VncSocket : paths.SerialSocket, qemuPid, $"the {kind} console");
        return new NetworkStream(socket, ownsSocket: true);
    }

    private async Task RunAsync(ConsoleDial dial, Stream source)
    {
        await using var target = source;
        try
        {
            using var portal = await sockets.DialAsync($"/console/agent/{Uri.EscapeDataString(dial.Nonce)}", CancellationToken.None, dial.Portal);
            log.LogInformation("{Kind} console session for VM {Vm} open", dial.Kind, dial.VmId);
            var vmEnded = await PortalSockets.SpliceAsync(target, portal, oneWay: dial.Kind is ConsoleKind.SerialLog or ConsoleKind.Thumbnail, CancellationToken.None);
            log.LogInformation("{Kind} console session for VM {Vm} ended by the {Side} side", dial.Kind, dial.VmId, vmEnded ? "VM" : "portal");
        }
        catch (Exception e) when (e is SocketException or WebSocketException or IOException or OperationCanceledException)
        {
            log.LogWarning("Console session for VM {Vm} ended: {Message}", dial.VmId, e.Message);
        }
    }
}
