using System.Text;
using Paddock.Engine.GuestAgent;

namespace Paddock.Unit.Engine.GuestAgent;

/// <summary>guest-sync-delimited: stale replies and garbage are skipped, and every failure is recovered from at the next command.</summary>
public sealed class GuestAgentSyncTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static readonly GuestAgentOptions Brief = new() { Timeout = TimeSpan.FromMilliseconds(300) };

    [Fact]
    public async Task A_stale_reply_before_the_sentinel_is_skipped()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var name = agent.Client.HostNameAsync();
        await agent.AnswerSyncAsync(before: """{"return": {"host-name": "stale"}}""" + "\n" + """{"error": {"class": "GenericError", "desc": "old"}}""" + "\n");
        await agent.ReceiveAsync();
        await agent.SendAsync("""{"return": {"host-name": "fresh"}}""");

        Assert.Equal("fresh", await name.WaitAsync(Patience));
    }

    [Fact]
    public async Task Bytes_before_the_sentinel_are_skipped_even_without_a_newline()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var name = agent.Client.HostNameAsync();
        await agent.AnswerSyncAsync(before: "{\"return\": {\"host-na" + new string('x', 20_000));
        await agent.ReceiveAsync();
        await agent.SendAsync("""{"return": {"host-name": "fresh"}}""");

        Assert.Equal("fresh", await name.WaitAsync(Patience));
    }

    [Fact]
    public async Task Replies_to_earlier_syncs_after_the_sentinel_are_skipped_until_the_id_matches()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var ping = agent.Client.PingAsync();
        var (_, sync) = await agent.ReceiveAsync();
        var id = sync.GetProperty("arguments").GetProperty("id").GetInt64();
        // An earlier sync's sentinel and reply, a line of garbage, a second sentinel mid-line, then ours.
        await agent.SendRawAsync([0xFF, .. Encoding.UTF8.GetBytes($$"""{"return": {{id + 1}}}""" + "\n{not json\n{\"ret"), 0xFF,
            .. Encoding.UTF8.GetBytes($$"""{"return": {{id}}}""" + "\n")]);
        await agent.ReceiveAsync();
        await agent.SendAsync("""{"return": {}}""");

        await ping.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_command_without_a_reply_times_out_and_its_late_reply_is_not_taken_for_the_next_one()
    {
        await using var agent = await FakeGuestAgent.StartAsync(Brief);

        var first = agent.Client.HostNameAsync();
        await agent.ReceiveCommandAsync("guest-get-host-name");
        var timeout = await Assert.ThrowsAsync<GuestAgentTimeoutException>(() => first.WaitAsync(Patience));
        Assert.Equal("guest-get-host-name", timeout.Command);
        Assert.Equal(Brief.Timeout, timeout.Timeout);

        await agent.SendAsync("""{"return": {"host-name": "late"}}""");
        var second = agent.Client.HostNameAsync();
        await agent.ExpectAsync("guest-get-host-name", """{"host-name": "fresh"}""");

        Assert.Equal("fresh", await second.WaitAsync(Patience));
    }

    [Fact]
    public async Task An_agent_that_does_not_answer_the_sync_times_out_with_a_hint_and_the_command_is_not_sent()
    {
        await using var agent = await FakeGuestAgent.StartAsync(Brief);

        var ping = agent.Client.PingAsync();
        await agent.AnswerSyncAsync(answer: false);

        var timeout = await Assert.ThrowsAsync<GuestAgentTimeoutException>(() => ping.WaitAsync(Patience));
        Assert.Contains("may not be running", timeout.Message);
        var next = agent.Client.PingAsync();
        // The next thing on the wire is the next command's sync, not the ping that timed out.
        await agent.ExpectAsync("guest-ping");
        await next.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_timeout_per_call_overrides_the_option()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var freeze = agent.Client.FreezeAsync(timeout: TimeSpan.FromMilliseconds(200));
        await agent.ReceiveCommandAsync("guest-fsfreeze-freeze");

        var timeout = await Assert.ThrowsAsync<GuestAgentTimeoutException>(() => freeze.WaitAsync(Patience));
        Assert.Equal(TimeSpan.FromMilliseconds(200), timeout.Timeout);
    }

    [Fact]
    public async Task A_cancelled_command_is_a_cancellation_and_the_next_command_works()
    {
        await using var agent = await FakeGuestAgent.StartAsync();
        using var cancel = new CancellationTokenSource();

        var cancelled = agent.Client.PingAsync(cancel.Token);
        await agent.ReceiveCommandAsync("guest-ping");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Patience));

        var next = agent.Client.HostNameAsync();
        await agent.ExpectAsync("guest-get-host-name", """{"host-name": "web-1"}""");
        Assert.Equal("web-1", await next.WaitAsync(Patience));
    }

    [Fact]
    public async Task Commands_from_two_callers_run_one_after_the_other()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var first = agent.Client.HostNameAsync();
        var second = agent.Client.HostNameAsync();
        // Each sync and command arrives whole and in order: the second waits for the first's reply.
        await agent.ExpectAsync("guest-get-host-name", """{"host-name": "one"}""");
        await agent.ExpectAsync("guest-get-host-name", """{"host-name": "two"}""");

        Assert.Equal(["one", "two"], await Task.WhenAll(first, second).WaitAsync(Patience));
    }

    [Fact]
    public async Task A_closed_socket_is_a_closed_connection()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var ping = agent.Client.PingAsync();
        await agent.ReceiveCommandAsync("guest-ping");
        agent.Close();

        await Assert.ThrowsAsync<GuestAgentConnectionClosedException>(() => ping.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_disposed_client_refuses_commands_and_ends_the_one_running()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var running = agent.Client.PingAsync();
        await agent.ReceiveCommandAsync("guest-ping");
        await agent.Client.DisposeAsync().AsTask().WaitAsync(Patience);

        await Assert.ThrowsAsync<ObjectDisposedException>(() => running.WaitAsync(Patience));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => agent.Client.PingAsync().WaitAsync(Patience));
    }
}
