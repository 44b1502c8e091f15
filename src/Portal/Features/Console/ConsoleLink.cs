using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>What a console page says of its connection, in its state chip.</summary>
public enum ConsoleState
{
    Connecting,
    Connected,

    /// <summary>The open socket closed by itself: the page waits, then dials again with a new ticket.</summary>
    Reconnecting,

    /// <summary>Open again after <see cref="Reconnecting"/>, without the person doing anything.</summary>
    Reconnected,

    /// <summary>The VM's host refused to open the console, and said why.</summary>
    Refused,

    /// <summary>Someone or something ended the session: a Disconnect, a take-over, the viewer's access gone.</summary>
    Ended,

    Disconnected,
    ConnectionLost,
}

/// <summary>
/// A console page's connection as it goes: dialled, open, closed. A socket that closes after it was
/// open, with no refusal from the host and with the VM still running, is dialled again after a
/// short wait, a few times: the VM moved to another host, or its host's agent restarted. A refusal,
/// a VM that stopped, or the last wait spent ends it there, as the page ended it before.
/// </summary>
/// <remarks>Pure: the page asks the host's refusal and the VM's status, and does the waiting.</remarks>
public sealed class ConsoleLink
{
    /// <summary>The waits before each new dial: from half a second, doubling up to 8 s, about 30 s in all.</summary>
    public static readonly IReadOnlyList<TimeSpan> Waits =
        [.. new[] { 0.5, 1, 2, 4, 8, 8, 8 }.Select(TimeSpan.FromSeconds)];

    /// <summary>The dials made since the open socket closed; 0 when the page is not reconnecting.</summary>
    private int _redials;

    public ConsoleState State { get; private set; } = ConsoleState.Connecting;

    /// <summary>Whether the person may dial by hand: not while a socket is open or dialled, nor while a new dial waits.</summary>
    public bool MayDial => State is ConsoleState.Refused or ConsoleState.Ended or ConsoleState.Disconnected or ConsoleState.ConnectionLost;

    /// <summary>The person dials (or the page opens): what came before is forgotten.</summary>
    public void Dial()
    {
        _redials = 0;
        State = ConsoleState.Connecting;
    }

    public void Opened()
    {
        State = _redials > 0 ? ConsoleState.Reconnected : ConsoleState.Connected;
        _redials = 0;
    }

    /// <summary>
    /// The socket closed: how long to wait before dialling again, or null when the page stops here.
    /// </summary>
    /// <param name="refusal">Why the VM's host refused this dial, if it did: a refusal is never dialled again.</param>
    /// <param name="clean">Whether the socket closed cleanly, which the state says once the page stops.</param>
    /// <param name="vmRuns">Whether the VM still has (or soon has again) a console to open; see <see cref="MayComeBack"/>.</param>
    /// <param name="ended">Whether the refusal is someone's ending of the session rather than the host's.</param>
    public TimeSpan? Closed(string? refusal, bool clean, bool vmRuns, bool ended = false)
    {
        var wasOpen = State is ConsoleState.Connected or ConsoleState.Reconnected;
        if (refusal is null && vmRuns && (wasOpen || _redials > 0) && _redials < Waits.Count)
        {
            State = ConsoleState.Reconnecting;
            return Waits[_redials++];
        }

        _redials = 0;
        State = ended ? ConsoleState.Ended : refusal is not null ? ConsoleState.Refused : clean ? ConsoleState.Disconnected : ConsoleState.ConnectionLost;
        return null;
    }

    /// <summary>
    /// Whether a VM in <paramref name="status"/> has, or soon has again, a QEMU whose console opens:
    /// a running VM's, one that moves or whose host is not heard from for a moment (Unknown).
    /// </summary>
    public static bool MayComeBack(VmStatus status) => status is VmStatus.Starting or VmStatus.Running or VmStatus.Paused
        or VmStatus.ShuttingDown or VmStatus.Migrating or VmStatus.Restoring or VmStatus.Unknown;

    /// <summary>The state in words, as the chip shows it.</summary>
    public static string Describe(ConsoleState state) => state switch
    {
        ConsoleState.Reconnecting => "Reconnecting…",
        ConsoleState.ConnectionLost => "Connection lost",
        _ => state.ToString(),
    };
}
