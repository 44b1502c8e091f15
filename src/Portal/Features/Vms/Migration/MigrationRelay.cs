using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// Carries a live migration's bytes between the two hosts: each agent dials a binary WebSocket per
/// channel (the memory stream, one per disk) to <c>/migration/agent/{token}/{channel}</c> with its
/// host credential, over the portal's TLS, and the relay splices the source's socket to the
/// destination's. Hosts need no inbound port and need not reach each other; QEMU never listens on a network.
/// </summary>
/// <remarks>
/// Only the migration's two hosts may arrive, each once per channel, and only while the migration
/// is under way (the token is the VM's current migration's). A side waits for the other at most
/// <see cref="MeetWithin"/>. Revoking a host ends its channels (<see cref="IHostLinks"/>).
/// </remarks>
public sealed partial class MigrationRelay(IDocumentStore store, ILogger<MigrationRelay> log) : IHostLinks
{
    public static readonly TimeSpan MeetWithin = TimeSpan.FromMinutes(2);

    /// <summary>The memory stream is bulk: it is copied in pieces as large as the agents send.</summary>
    private const int BufferBytes = 1024 * 1024;

    private readonly ConcurrentDictionary<(string Token, string Channel), Arrival> _waiting = new();
    private readonly ConcurrentDictionary<Arrival, byte> _open = new();

    public static void Map(IEndpointRouteBuilder app) =>
        app.Map("/migration/agent/{token}/{channel}", (string token, string channel, HttpContext http, MigrationRelay relay) => relay.ArriveAsync(token, channel, http))
            .RequireAuthorization(AgentAuthentication.Policy);

    [GeneratedRegex("^(memory|disk-[0-9]{1,2})$")]
    private static partial Regex ChannelName();

    public void EndHost(Guid hostId)
    {
        foreach (var arrival in _open.Keys.Where(a => a.HostId == hostId))
        {
            arrival.End();
        }
    }

    private async Task ArriveAsync(string token, string channel, HttpContext http)
    {
        var hostId = AgentAuthentication.HostOf(http.User);
        var side = hostId is { } id && ChannelName().IsMatch(channel) && http.WebSockets.IsWebSocketRequest ? await SideOfAsync(token, id, http.RequestAborted) : null;
        if (side is null)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        var arrival = new Arrival(hostId!.Value, side.Value, socket);
        _open[arrival] = 0;
        try
        {
            await MeetAsync((token, channel), arrival, http.RequestAborted);
        }
        finally
        {
            _open.TryRemove(arrival, out _);
        }
    }

    /// <summary>The first side waits; the second splices the two and ends both when either closes.</summary>
    private async Task MeetAsync((string Token, string Channel) key, Arrival arrival, CancellationToken ct)
    {
        while (true)
        {
            if (_waiting.TryGetValue(key, out var other))
            {
                if (other.Source == arrival.Source || !_waiting.TryRemove(new(key, other)))
                {
                    log.LogWarning("Migration channel {Channel} refused: its {Side} side arrived twice", key.Channel, arrival.Source ? "source" : "destination");
                    return;
                }

                log.LogInformation("Migration channel {Channel} spliced", key.Channel);
                try
                {
                    await SocketSplice.RunAsync(other.Socket, arrival.Socket, ct, BufferBytes);
                }
                finally
                {
                    other.Done();
                }

                return;
            }

            if (_waiting.TryAdd(key, arrival))
            {
                break;
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(MeetWithin);
        try
        {
            await arrival.Ended.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _waiting.TryRemove(new(key, arrival));
            log.LogWarning("Migration channel {Channel}: the other side did not arrive", key.Channel);
        }
    }

    /// <summary>True when the host is the source of the migration <paramref name="token"/> names, false for its destination, null otherwise.</summary>
    private async Task<bool?> SideOfAsync(string token, Guid hostId, CancellationToken ct)
    {
        if (token.Length is < 16 or > 64)
        {
            return null;
        }

        await using var session = store.QuerySession();
        var migration = (await session.Query<Vm>().Where(v => v.Migration != null && v.Migration.Token == token).FirstOrDefaultAsync(ct))?.Migration;
        return migration is null ? null
            : migration.FromHostId == hostId ? true
            : migration.ToHostId == hostId ? false
            : null;
    }

    /// <summary>One side's socket, held open until the splice it is part of ends.</summary>
    private sealed class Arrival(Guid hostId, bool source, WebSocket socket)
    {
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Guid HostId { get; } = hostId;

        public bool Source { get; } = source;

        public WebSocket Socket { get; } = socket;

        public Task Ended => _ended.Task;

        /// <summary>The splice is over (both ways closed): the first side's request may end.</summary>
        public void Done() => _ended.TrySetResult();

        /// <summary>Cut at once (its host was revoked).</summary>
        public void End()
        {
            Socket.Abort();
            _ended.TrySetResult();
        }
    }
}
