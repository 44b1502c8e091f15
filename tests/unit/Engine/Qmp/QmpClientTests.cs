using System.Text.Json;
using Paddock.Engine.Qmp;

namespace Paddock.Unit.Engine.Qmp;

public sealed class QmpClientTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Connect_reads_the_greeting_and_leaves_capabilities_mode()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        Assert.Equal(7, client.Greeting.GetProperty("version").GetProperty("qemu").GetProperty("major").GetInt32());
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Connect_knocks_again_while_the_socket_exists_but_does_not_listen_yet()
    {
        // QEMU binds the monitor's socket file before it listens: a client that saw the file may be refused at first.
        await using var server = new FakeQmpServer(listen: false);
        var connecting = QmpClient.ConnectAsync(server.SocketPath, timeout: TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        Assert.False(connecting.IsCompleted);
        server.Listen();
        await using var connection = await server.AcceptAsync();
        await connection.SendAsync(FakeQmpServer.Greeting);
        var capabilities = await connection.ReceiveAsync();
        await connection.ReplyAsync(capabilities, "{}");

        await using var client = await connecting;
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task A_socket_that_never_listens_is_refused_when_the_deadline_passes()
    {
        await using var server = new FakeQmpServer(listen: false);

        var e = await Assert.ThrowsAnyAsync<QmpException>(() => QmpClient.ConnectAsync(server.SocketPath, timeout: TimeSpan.FromMilliseconds(300)));

        // Refused until the deadline; on a loaded machine the deadline may fall inside a knock, which is the timeout.
        Assert.True(e.Message.Contains("Connection refused", StringComparison.Ordinal) || e is QmpTimeoutException, e.Message);
    }

    [Fact]
    public async Task Commands_carry_arguments_and_a_numeric_id()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var running = client.ExecuteAsync("device_del", new Dictionary<string, object> { ["id"] = "disk-data" });
        var sent = await connection.ReceiveAsync();

        Assert.Equal("device_del", sent.GetProperty("execute").GetString());
        Assert.Equal("disk-data", sent.GetProperty("arguments").GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Number, sent.GetProperty("id").ValueKind);
        await connection.ReplyAsync(sent, "{}");
        Assert.Equal(JsonValueKind.Object, (await running.WaitAsync(Patience)).ValueKind);
    }

    [Fact]
    public async Task Replies_out_of_order_complete_the_matching_commands()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var first = client.ExecuteAsync("query-status");
        var firstSent = await connection.ReceiveAsync();
        var second = client.ExecuteAsync("query-name");
        var secondSent = await connection.ReceiveAsync();

        await connection.ReplyAsync(secondSent, """{"name": "second"}""");
        await connection.ReplyAsync(firstSent, """{"status": "running"}""");

        Assert.Equal("running", (await first.WaitAsync(Patience)).GetProperty("status").GetString());
        Assert.Equal("second", (await second.WaitAsync(Patience)).GetProperty("name").GetString());
    }

    [Fact]
    public async Task Events_between_replies_reach_the_event_channel_in_order()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var command = client.ExecuteAsync("cont");
        var sent = await connection.ReceiveAsync();
        await connection.EventAsync("RESUME");
        await connection.EventAsync("BALLOON_CHANGE", """{"actual": 1073741824}""");
        await connection.ReplyAsync(sent, "{}");
        await connection.SendAsync("""{"event": "STOP", "timestamp": {"seconds": -1, "microseconds": -1}}""");

        await command.WaitAsync(Patience);
        var resume = await client.Events.ReadAsync().AsTask().WaitAsync(Patience);
        var balloon = await client.Events.ReadAsync().AsTask().WaitAsync(Patience);
        var stop = await client.Events.ReadAsync().AsTask().WaitAsync(Patience);

        Assert.Equal("RESUME", resume.Name);
        Assert.Equal(new DateTimeOffset(2023, 11, 14, 22, 13, 20, 250, TimeSpan.Zero), resume.Timestamp);
        Assert.Equal(1073741824, balloon.Data.GetProperty("actual").GetInt64());
        Assert.Equal("STOP", stop.Name);
        Assert.Equal(JsonValueKind.Object, stop.Data.ValueKind);
    }

    [Fact]
    public async Task Error_reply_throws_QmpErrorException_with_class_and_desc()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var command = client.ExecuteAsync("device_del", new { id = "nope" });
        var sent = await connection.ReceiveAsync();
        await connection.SendAsync(
            $$"""{"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}, "id": {{sent.GetProperty("id").GetRawText()}}}""");

        var error = await Assert.ThrowsAsync<QmpErrorException>(() => command.WaitAsync(Patience));
        Assert.Equal("device_del", error.Command);
        Assert.Equal("DeviceNotFound", error.ErrorClass);
        Assert.Equal("Device 'nope' not found", error.Description);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Malformed_json_fails_pending_commands_closes_and_faults_completion()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var command = client.ExecuteAsync("query-status");
        await connection.ReceiveAsync();
        await connection.SendAsync("""{"return": {"status": "runn""");

        await Assert.ThrowsAsync<QmpProtocolException>(() => command.WaitAsync(Patience));
        await Assert.ThrowsAsync<QmpProtocolException>(() => client.Completion.WaitAsync(Patience));
        await Assert.ThrowsAsync<QmpProtocolException>(() => client.Events.Completion.WaitAsync(Patience));
        Assert.False(client.IsConnected);
        await Assert.ThrowsAsync<QmpProtocolException>(() => client.ExecuteAsync("query-status"));
    }

    [Fact]
    public async Task A_reply_without_an_id_is_a_protocol_error()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var command = client.ExecuteAsync("query-status");
        await connection.ReceiveAsync();
        await connection.SendAsync("""{"error": {"class": "GenericError", "desc": "JSON parse error"}}""");

        await Assert.ThrowsAsync<QmpProtocolException>(() => command.WaitAsync(Patience));
    }

    [Fact]
    public async Task Socket_closed_mid_command_fails_it_as_closed_and_completes_events()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var command = client.ExecuteAsync("query-status");
        await connection.ReceiveAsync();
        // QEMU's last words before it exits come through first.
        await connection.EventAsync("SHUTDOWN", """{"guest": false, "reason": "host-qmp-quit"}""");
        connection.Close();

        await Assert.ThrowsAsync<QmpConnectionClosedException>(() => command.WaitAsync(Patience));
        await client.Completion.WaitAsync(Patience);
        var events = new List<string>();
        await foreach (var e in client.Events.ReadAllAsync().WithCancellation(new CancellationTokenSource(Patience).Token))
            events.Add(e.Name);
        Assert.Equal(["SHUTDOWN"], events);
        await Assert.ThrowsAsync<QmpConnectionClosedException>(() => client.ExecuteAsync("query-status"));
    }

    [Fact]
    public async Task Command_without_reply_times_out_and_its_late_reply_is_dropped()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var slow = client.ExecuteAsync("query-status", timeout: TimeSpan.FromMilliseconds(100));
        var slowSent = await connection.ReceiveAsync();
        var timeout = await Assert.ThrowsAsync<QmpTimeoutException>(() => slow.WaitAsync(Patience));
        Assert.Equal("query-status", timeout.Command);

        await connection.ReplyAsync(slowSent, """{"status": "late"}""");
        var next = client.ExecuteAsync("query-name");
        await connection.ReplyAsync(await connection.ReceiveAsync(), """{"name": "on time"}""");
        Assert.Equal("on time", (await next.WaitAsync(Patience)).GetProperty("name").GetString());
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Cancelled_command_throws_OperationCanceledException()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;
        using var cancel = new CancellationTokenSource();

        var command = client.ExecuteAsync("query-status", ct: cancel.Token);
        await connection.ReceiveAsync();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => command.WaitAsync(Patience));
    }

    [Fact]
    public async Task Lines_ending_in_LF_alone_and_replies_split_across_writes_are_read()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var first = client.ExecuteAsync("query-status");
        var firstSent = await connection.ReceiveAsync();
        await connection.SendAsync($$"""{"return": {"status": "lf"}, "id": {{firstSent.GetProperty("id")}}}""", "\n");
        Assert.Equal("lf", (await first.WaitAsync(Patience)).GetProperty("status").GetString());

        var second = client.ExecuteAsync("query-status");
        var secondSent = await connection.ReceiveAsync();
        await connection.SendRawAsync("""{"return": {"status": "sp""");
        await Task.Delay(50);
        await connection.SendRawAsync($$"""lit"}, "id": {{secondSent.GetProperty("id")}}}""" + "\r\n\r\n");
        Assert.Equal("split", (await second.WaitAsync(Patience)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Concurrent_commands_are_sent_as_whole_lines_and_all_complete()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;
        const int count = 64;

        var commands = Enumerable.Range(0, count)
            .Select(i => Task.Run(() => client.ExecuteAsync("echo", new { n = i, pad = new string('x', 4000) })))
            .ToList();
        var received = new List<JsonElement>();
        for (var i = 0; i < count; i++)
            received.Add(await connection.ReceiveAsync());
        received.Reverse();
        foreach (var sent in received)
            await connection.ReplyAsync(sent, sent.GetProperty("arguments").GetProperty("n").GetRawText());

        var results = await Task.WhenAll(commands).WaitAsync(Patience);
        Assert.Equal(Enumerable.Range(0, count), results.Select(r => r.GetInt32()));
        Assert.Equal(count, received.Select(r => r.GetProperty("id").GetInt64()).Distinct().Count());
    }

    [Fact]
    public async Task A_server_that_never_greets_times_out_the_connect()
    {
        await using var server = new FakeQmpServer();

        var connecting = QmpClient.ConnectAsync(server.SocketPath, timeout: TimeSpan.FromMilliseconds(200));
        await using var connection = await server.AcceptAsync();

        var error = await Assert.ThrowsAsync<QmpTimeoutException>(() => connecting.WaitAsync(Patience));
        Assert.Contains("one at a time", error.Message);
    }

    [Fact]
    public async Task Connecting_to_a_missing_socket_throws_a_QmpException()
    {
        var missing = Path.Join(Path.GetTempPath(), $"pq-{Guid.NewGuid():N}.sock");

        await Assert.ThrowsAsync<QmpException>(() => QmpClient.ConnectAsync(missing));
    }

    [Fact]
    public async Task Disposing_fails_pending_commands_as_closed()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;

        var command = client.ExecuteAsync("query-status");
        await connection.ReceiveAsync();
        await client.DisposeAsync();

        await Assert.ThrowsAsync<QmpConnectionClosedException>(() => command.WaitAsync(Patience));
        await client.Completion.WaitAsync(Patience);
    }
}
