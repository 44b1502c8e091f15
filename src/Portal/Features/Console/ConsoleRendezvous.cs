using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// Pairs a browser's console socket with the socket the agent dials back for it. A nonce is good
/// for one dial; the agent's request is held open until the session ends.
/// </summary>
public sealed class ConsoleRendezvous
{
    private readonly ConcurrentDictionary<string, Meeting> _waiting = new();

    public Meeting Open()
    {
        var meeting = new Meeting(Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant(), this);
        _waiting[meeting.Nonce] = meeting;
        return meeting;
    }

    /// <summary>The meeting for <paramref name="nonce"/>, taken so that nobody else can arrive at it.</summary>
    public Meeting? Arrive(string nonce) => _waiting.TryRemove(nonce, out var meeting) ? meeting : null;

    public sealed class Meeting(string nonce, ConsoleRendezvous owner) : IDisposable
    {
        private readonly TaskCompletionSource<WebSocket> _agent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Nonce { get; } = nonce;

        public Task<WebSocket> AgentSocket => _agent.Task;

        public Task Ended => _ended.Task;

        public void AgentArrived(WebSocket socket) => _agent.TrySetResult(socket);

        public void Dispose()
        {
            owner._waiting.TryRemove(Nonce, out _);
            _agent.TrySetCanceled();
            _ended.TrySetResult();
        }
    }
}
