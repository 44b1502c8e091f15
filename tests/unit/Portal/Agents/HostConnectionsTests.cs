using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
using Paddock.Portal.Features.Agents;

namespace Paddock.Unit.Portal.Agents;

/// <summary>
/// Which host is on which connection, when a connection closes while its host registers: found in
/// the fault suite, where an agent killed just after its registration was written stayed
/// "connected" for ever, so that nothing asked of its VMs was ever given up.
/// </summary>
public sealed class HostConnectionsTests
{
    [Fact]
    public void A_live_connection_is_recorded_and_its_goodbye_removes_it_once()
    {
        var connections = new HostConnections();
        var host = Guid.NewGuid();
        var live = new Caller("c-1");
        Assert.True(connections.Connected(host, live));
        Assert.Equal("c-1", connections.ConnectionOf(host));
        Assert.Equal(host, connections.Disconnected("c-1"));
        Assert.Null(connections.Disconnected("c-1"));
        Assert.False(connections.IsConnected(host));
    }

    [Fact]
    public void A_connection_closed_before_its_host_is_recorded_is_refused_so_that_the_registration_says_goodbye_itself()
    {
        var connections = new HostConnections();
        var host = Guid.NewGuid();
        var closed = new Caller("c-2", aborted: true);
        // Its OnDisconnectedAsync ran already and found nothing: nobody else will say the host left.
        Assert.Null(connections.Disconnected("c-2"));
        Assert.False(connections.Connected(host, closed));
        Assert.False(connections.IsConnected(host));
        Assert.Null(connections.ConnectionOf(host));
    }

    [Fact]
    public void A_host_back_on_a_new_connection_is_not_removed_by_the_old_ones_goodbye()
    {
        var connections = new HostConnections();
        var host = Guid.NewGuid();
        Assert.True(connections.Connected(host, new Caller("old")));
        Assert.True(connections.Connected(host, new Caller("new")));
        Assert.Null(connections.Disconnected("old"));
        Assert.Equal("new", connections.ConnectionOf(host));
    }

    /// <summary>A hub caller on a live connection, or on one already closed.</summary>
    private sealed class Caller(string id, bool aborted = false) : HubCallerContext
    {
        public override string ConnectionId => id;

        public override string? UserIdentifier => null;

        public override ClaimsPrincipal? User => null;

        public override IDictionary<object, object?> Items { get; } = new Dictionary<object, object?>();

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override CancellationToken ConnectionAborted => new(aborted);

        public override void Abort()
        {
        }
    }
}
