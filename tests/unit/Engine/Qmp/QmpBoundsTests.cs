using Paddock.Engine.Qmp;

namespace Paddock.Unit.Engine.Qmp;

/// <summary>A QEMU that sends endless lines or floods events cannot make the client hold more than its bounds.</summary>
public sealed class QmpBoundsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_reply_just_under_the_line_limit_is_read()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var command = client.ExecuteAsync("query-pci");
        var sent = await connection.ReceiveAsync();
        var big = new string('x', QmpClient.MaxLineBytes - 100);
        await connection.ReplyAsync(sent, $"\"{big}\"");

        Assert.Equal(big.Length, (await command.WaitAsync(Patience)).GetString()!.Length);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task A_reply_over_the_line_limit_fails_the_command_naming_the_limit_and_closes_the_client()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        var command = client.ExecuteAsync("query-pci");
        var sent = await connection.ReceiveAsync();
        await connection.ReplyAsync(sent, $"\"{new string('x', QmpClient.MaxLineBytes)}\"");

        var error = await Assert.ThrowsAsync<QmpLimitExceededException>(() => command.WaitAsync(Patience));
        Assert.Equal("line bytes", error.Limit);
        Assert.Equal(QmpClient.MaxLineBytes, error.Bound);
        Assert.Contains("longer than 1048576 bytes", error.Message);
        await Assert.ThrowsAsync<QmpLimitExceededException>(() => client.Completion.WaitAsync(Patience));
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task An_endless_line_closes_the_client_once_it_passes_the_limit()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;
        var command = client.ExecuteAsync("query-status");
        await connection.ReceiveAsync();

        // QEMU never ends its line; the client must hang up rather than keep reading.
        const long giveUpAt = 64L * 1024 * 1024;
        var chunk = new string('x', 64 * 1024);
        var sending = Task.Run(async () =>
        {
            long sentBytes = 0;
            try
            {
                while (sentBytes < giveUpAt)
                {
                    await connection.SendRawAsync(chunk);
                    sentBytes += chunk.Length;
                }
            }
            catch (IOException)
            {
                // The client closed its end: what we want.
            }

            return sentBytes;
        });

        var error = await Assert.ThrowsAsync<QmpLimitExceededException>(() => command.WaitAsync(Patience));
        Assert.Equal("line bytes", error.Limit);
        var sent = await sending.WaitAsync(Patience);
        Assert.True(sent < giveUpAt, $"the client kept reading an endless line ({sent} bytes)");
    }

    [Fact]
    public async Task An_event_flood_nobody_reads_closes_the_client_at_the_event_bound_after_the_events_before_it()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        for (var i = 0; i <= QmpClient.MaxQueuedEvents; i++)
            await connection.EventAsync("RESET", $$"""{"guest": true, "n": {{i}}}""");

        var error = await Assert.ThrowsAsync<QmpLimitExceededException>(() => client.Completion.WaitAsync(Patience));
        Assert.Equal("queued events", error.Limit);
        Assert.Equal(QmpClient.MaxQueuedEvents, error.Bound);
        // What was queued before the bound is still delivered, then the reason.
        var read = 0;
        await Assert.ThrowsAsync<QmpLimitExceededException>(async () =>
        {
            await foreach (var e in client.Events.ReadAllAsync().WithCancellation(new CancellationTokenSource(Patience).Token))
                Assert.Equal(read++, e.Data.GetProperty("n").GetInt32());
        });
        Assert.Equal(QmpClient.MaxQueuedEvents, read);
    }

    [Fact]
    public async Task Large_unread_events_close_the_client_at_the_byte_bound()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;
        var padding = new string('x', 64 * 1024);

        try
        {
            // One more than fits; the client may hang up before the last one is written.
            for (var i = 0; i * padding.Length <= QmpClient.MaxQueuedEventBytes; i++)
                await connection.EventAsync("GUEST_PANICKED", $$"""{"pad": "{{padding}}"}""");
        }
        catch (IOException)
        {
        }

        var error = await Assert.ThrowsAsync<QmpLimitExceededException>(() => client.Completion.WaitAsync(Patience));
        Assert.Equal("queued event bytes", error.Limit);
    }

    [Fact]
    public async Task Events_that_are_read_free_their_room_so_a_long_stream_never_reaches_the_bound()
    {
        var (server, connection, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = connection;
        await using var ___ = client;

        // Three bounds' worth in batches, each read before the next is sent (as the supervisor reads continuously).
        const int batch = 256;
        for (var sent = 0; sent < 3 * QmpClient.MaxQueuedEvents; sent += batch)
        {
            for (var i = 0; i < batch; i++)
                await connection.EventAsync("RTC_CHANGE", $$"""{"offset": {{sent + i}}}""");
            for (var i = 0; i < batch; i++)
                Assert.Equal(sent + i, (await client.Events.ReadAsync().AsTask().WaitAsync(Patience)).Data.GetProperty("offset").GetInt32());
        }

        var command = client.ExecuteAsync("query-status");
        await connection.ReplyAsync(await connection.ReceiveAsync(), """{"status": "running"}""");
        Assert.Equal("running", (await command.WaitAsync(Patience)).GetProperty("status").GetString());
        Assert.True(client.IsConnected);
    }
}
