using System.Collections.Concurrent;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// Why a VM's host last refused to open one of its consoles, kept a minute: the console page sees
/// only a WebSocket that closed, and asks here what to tell the person. One entry per VM and kind.
/// </summary>
public sealed class ConsoleRefusals(TimeProvider clock)
{
    public static readonly TimeSpan Kept = TimeSpan.FromMinutes(1);

    /// <summary>What a person is told when the host's agent refused because something in the VM's own directory was changed.</summary>
    public const string Tampering =
        "Its host refused to open this console: something in the VM's own directory was changed, as a compromised VM would do. The admins have it in the audit log.";

    private readonly ConcurrentDictionary<(Guid VmId, ConsoleKind Kind), (string Reason, DateTimeOffset At)> _last = new();

    public void Record(Guid vmId, ConsoleKind kind, string reason) => _last[(vmId, kind)] = (reason, clock.GetUtcNow());

    /// <summary>The refusal of the VM's <paramref name="kind"/> console recorded since <paramref name="since"/>, or null.</summary>
    public string? Since(Guid vmId, ConsoleKind kind, DateTimeOffset since) =>
        _last.TryGetValue((vmId, kind), out var last) && last.At >= since && last.At > clock.GetUtcNow() - Kept ? last.Reason : null;

    /// <summary>The sentence for a person: the agent's own reason, unless it is about tampering (its details are for admins).</summary>
    public static string ForPeople(CommandAck ack) =>
        ack.Tampering ? Tampering : $"Its host refused to open this console: {ack.Refusal ?? "no reason given"}";
}
