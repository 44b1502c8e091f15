using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Paddock.E2e;

/// <summary>
/// A TCP proxy that can be cut (afterwards nothing listens on its port and every connection through
/// it is gone), mended, and pointed elsewhere: the database taken from one portal, or the one address
/// agents dial in front of several portals (a load balancer's part). A connection through it ends on
/// both sides when either side ends it, as a load balancer's does.
/// </summary>
public sealed class CuttableProxy : IAsyncDisposable
{
    private TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ConcurrentBag<TcpClient> _open = [];
    private (string Host, int Port) _target;
    private CancellationTokenSource _cut = new();
    private Task _accepting;

    public CuttableProxy(string host, int port)
    {
        _target = (host, port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    /// <summary>Where it listens, the same after <see cref="Mend"/>.</summary>
    public int Port { get; }

    /// <summary>Listens again on the same port: the path is back.</summary>
    public void Mend()
    {
        _cut.Dispose();
        _cut = new CancellationTokenSource();
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>New connections go to <paramref name="port"/> on <paramref name="host"/>; those open stay where they are.</summary>
    public void Retarget(string host, int port) => _target = (host, port);

    public void Cut()
    {
        _cut.Cancel();
        _listener.Stop();
        foreach (var client in _open)
        {
            client.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Cut();
        await _accepting;
        _cut.Dispose();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_cut.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_cut.Token);
                _open.Add(client);
                _ = SpliceAsync(client, _target, _cut.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Cut.
        }
    }

    private async Task SpliceAsync(TcpClient client, (string Host, int Port) target, CancellationToken ct)
    {
        using var server = new TcpClient();
        _open.Add(server);
        try
        {
            // Nobody there (the portal it points at is dead): the connection is refused, as a balancer with no backend does.
            await server.ConnectAsync(target.Host, target.Port, ct);
            await Task.WhenAny(PumpAsync(client.GetStream(), server.GetStream(), ct), PumpAsync(server.GetStream(), client.GetStream(), ct));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Cut, or nothing listens there.
        }
        finally
        {
            client.Dispose();
        }
    }

    private static async Task PumpAsync(Stream from, Stream to, CancellationToken ct)
    {
        try
        {
            await from.CopyToAsync(to, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Cut, or one side closed the connection.
        }
    }
}
