using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Agents;

/// <summary>Which host is connected on which SignalR connection of this portal process.</summary>
public sealed class HostConnections : IHostLinks
{
    private readonly ConcurrentDictionary<Guid, HubCallerContext> _byHost = new();

    /// <summary>
    /// Records that <paramref name="hostId"/> is on <paramref name="connection"/>. False when that
    /// connection closed meanwhile and nobody else will say so: SignalR aborts a connection before it
    /// runs OnDisconnectedAsync, and that may run while the host's registration is still being
    /// written, find nothing here, and leave the host connected for ever. The caller then says
    /// goodbye itself; whichever of the two removes the connection does.
    /// </summary>
    public bool Connected(Guid hostId, HubCallerContext connection)
    {
        if (connection.ConnectionAborted.IsCancellationRequested)
        {
            return false;
        }

        _byHost[hostId] = connection;
        return !connection.ConnectionAborted.IsCancellationRequested || !_byHost.TryRemove(new KeyValuePair<Guid, HubCallerContext>(hostId, connection));
    }

    /// <summary>The host that was on <paramref name="connectionId"/>, if any.</summary>
    public Guid? Disconnected(string connectionId)
    {
        foreach (var (host, connection) in _byHost)
        {
            if (connection.ConnectionId == connectionId && _byHost.TryRemove(new KeyValuePair<Guid, HubCallerContext>(host, connection)))
            {
                return host;
            }
        }

        return null;
    }

    /// <summary>Ends the host's connection (it was revoked); its reconnect then meets a void credential.</summary>
    public void EndHost(Guid hostId)
    {
        if (_byHost.TryGetValue(hostId, out var connection))
        {
            connection.Abort();
        }
    }

    public string? ConnectionOf(Guid hostId) => _byHost.TryGetValue(hostId, out var connection) ? connection.ConnectionId : null;

    public bool IsConnected(Guid hostId) => _byHost.ContainsKey(hostId);

    public IReadOnlyCollection<Guid> Hosts => [.. _byHost.Keys];
}
