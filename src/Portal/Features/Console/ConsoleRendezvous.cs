using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// Pairs a browser's console socket with the socket the agent dials back for it. A nonce is good
/// for one dial, by the host it was sent to; the agent's request is held open until the session ends.
/// </summary>
public sealed class ConsoleRendezvous : IHostLinks
{
    private readonly ConcurrentDictionary<string, Meeting> _meetings = new();
    private readonly ConcurrentDictionary<string, Meeting> _waiting = new();

    public Meeting Open(Guid hostId)
    {
        var meeting = new Meeting(Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant(), hostId, this);
        _meetings[meeting.Nonce] = meeting;
        _waiting[meeting.Nonce] = meeting;
        return meeting;
    }

    /// <summary>The meeting for <paramref name="nonce"/> if <paramref name="hostId"/> was asked to it, taken so that nobody else can arrive at it.</summary>
    public Meeting? Arrive(string nonce, Guid hostId) =>
        _waiting.TryGetValue(nonce, out var meeting) && meeting.HostId == hostId && _waiting.TryRemove(new KeyValuePair<string, Meeting>(nonce, meeting))
            ? meeting
            : null;

    /// <summary>Ends every console session that runs through <paramref name="hostId"/> (the host was revoked).</summary>
    public void EndHost(Guid hostId)
    {
        foreach (var meeting in _meetings.Values.Where(m => m.HostId == hostId))
        {
            meeting.Dispose();
        }
    }

    public sealed class Meeting(string nonce, Guid hostId, ConsoleRendezvous owner) : IDisposable
    {
        private readonly TaskCompletionSource<WebSocket> _agent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Nonce { get; } = nonce;

        public Guid HostId { get; } = hostId;

        public Task<WebSocket> AgentSocket => _agent.Task;

        public Task Ended => _ended.Task;

        public void AgentArrived(WebSocket socket) => _agent.TrySetResult(socket);

        public void Dispose()
        {
            owner._waiting.TryRemove(Nonce, out _);
            owner._meetings.TryRemove(Nonce, out _);
            _agent.TrySetCanceled();
            _ended.TrySetResult();
        }
    }
}
