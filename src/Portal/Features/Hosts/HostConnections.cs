using System.Collections.Concurrent;

namespace Paddock.Portal.Features.Hosts;

/// <summary>Which host is connected on which SignalR connection of this portal process.</summary>
public sealed class HostConnections
{
    private readonly ConcurrentDictionary<Guid, string> _byHost = new();

    public void Connected(Guid hostId, string connectionId) => _byHost[hostId] = connectionId;

    /// <summary>The host that was on <paramref name="connectionId"/>, if any.</summary>
    public Guid? Disconnected(string connectionId)
    {
        foreach (var (host, connection) in _byHost)
        {
            if (connection == connectionId && _byHost.TryRemove(new KeyValuePair<Guid, string>(host, connection)))
            {
                return host;
            }
        }

        return null;
    }

    public string? ConnectionOf(Guid hostId) => _byHost.TryGetValue(hostId, out var connection) ? connection : null;

    public bool IsConnected(Guid hostId) => _byHost.ContainsKey(hostId);

    public IReadOnlyCollection<Guid> Hosts => [.. _byHost.Keys];
}
