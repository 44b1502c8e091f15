using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Paddock.Engine.Vms;

namespace Paddock.Bench;

/// <summary>
/// The root shell the built-in template gives on its first serial port, as root on the host reaches
/// it: lines typed into the VM's serial socket, answers read from its serial log.
/// </summary>
public sealed class GuestShell(VmPaths paths)
{
    /// <summary>Until the guest's shell on the serial port is ready.</summary>
    public Task WaitForReadyAsync(CancellationToken ct) => Serial.WaitForAsync(paths.SerialLog, "paddock-template ready", TimeSpan.FromMinutes(2), ct);

    /// <summary>
    /// Types <paramref name="command"/> into the guest's serial shell and waits until the guest prints
    /// <paramref name="expected"/>: to tell output from the echo of what was typed, the command must
    /// print it without spelling it (<c>echo moved-o''k</c> prints <c>moved-ok</c>).
    /// </summary>
    public async Task RunAsync(string command, string expected, TimeSpan within, CancellationToken ct)
    {
        using var serial = await TypeAsync(command, ct);
        await Serial.WaitForAsync(paths.SerialLog, expected, within, ct);
    }

    /// <summary>
    /// Types <paramref name="command"/> and returns the first match of <paramref name="answer"/> in
    /// what the serial port printed after it was typed (so that a command asked again is not answered
    /// by its earlier output; as with <see cref="RunAsync"/>, the echo of the typed line must not match).
    /// </summary>
    public async Task<Match> AskAsync(string command, Regex answer, TimeSpan within, CancellationToken ct)
    {
        var from = File.Exists(paths.SerialLog) ? new FileInfo(paths.SerialLog).Length : 0;
        using var serial = await TypeAsync(command, ct);
        Match? match = null;
        await Wait.UntilAsync(() => (match = answer.Match(Serial.ReadFrom(paths.SerialLog, from))).Success, within,
            $"/{answer}/ on {paths.SerialLog} after '{command}'", ct, poll: TimeSpan.FromMilliseconds(20));
        return match!;
    }

    /// <summary>
    /// The connection stays open until the answer: QEMU reads the socket only as fast as the UART
    /// takes bytes, and a closed connection drops what it had not read yet.
    /// </summary>
    private async Task<Socket> TypeAsync(string command, CancellationToken ct)
    {
        var serial = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await serial.ConnectAsync(new UnixDomainSocketEndPoint(paths.SerialSocket), ct);
            await serial.SendAsync(Encoding.ASCII.GetBytes(command + "\n"), ct);
            return serial;
        }
        catch
        {
            serial.Dispose();
            throw;
        }
    }
}
