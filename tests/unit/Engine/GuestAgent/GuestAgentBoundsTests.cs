using System.Text;
using Paddock.Engine.GuestAgent;

namespace Paddock.Unit.Engine.GuestAgent;

/// <summary>A hostile guest cannot make the client read or hold more than its bounds, and what it says that is wrong is a typed failure.</summary>
public sealed class GuestAgentBoundsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static readonly GuestAgentOptions Defaults = new();

    [Fact]
    public async Task An_endless_line_after_the_sync_fails_at_the_line_limit_and_the_next_command_works()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var name = agent.Client.HostNameAsync();
        await agent.ReceiveCommandAsync("guest-get-host-name");
        // 100 KB without a newline: more than a line may hold, less than a socket buffer.
        await agent.SendRawAsync(Encoding.ASCII.GetBytes("{\"return\": \"" + new string('x', 100_000)));

        var error = await Assert.ThrowsAsync<GuestAgentLimitExceededException>(() => name.WaitAsync(Patience));
        Assert.Equal("line bytes", error.Limit);
        Assert.Equal(Defaults.MaxLineBytes, error.Bound);
        Assert.True(agent.ClientStream.BytesRead <= Defaults.MaxBytesReadPerCommand);

        // The next sync reads past the rest of the flood to its sentinel.
        var next = agent.Client.HostNameAsync();
        await agent.ExpectAsync("guest-get-host-name", """{"host-name": "web-1"}""");
        Assert.Equal("web-1", await next.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_flood_without_a_sentinel_fails_once_the_command_has_read_its_budget()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var ping = agent.Client.PingAsync();
        await agent.AnswerSyncAsync(answer: false);
        // The agent never syncs: it sends until the client stops reading (the socket fills up) or 8 MiB.
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'x');
        var flooding = Task.Run(async () =>
        {
            try
            {
                for (var sent = 0; sent < 128; sent++)
                    await agent.SendRawAsync(chunk);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The test ended and closed the socket under the blocked write.
            }
        });

        var error = await Assert.ThrowsAsync<GuestAgentLimitExceededException>(() => ping.WaitAsync(Patience));
        Assert.Equal("bytes per command", error.Limit);
        Assert.Equal(Defaults.MaxBytesReadPerCommand, agent.ClientStream.BytesRead);
        Assert.False(flooding.IsCompleted, "the client stopped reading before the guest stopped sending");
        await agent.DisposeAsync();
        await flooding.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_reply_over_the_line_limit_fails_and_one_just_under_it_is_read_and_capped()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var over = agent.Client.HostNameAsync();
        await agent.ExpectAsync("guest-get-host-name", $$"""{"host-name": "{{new string('a', Defaults.MaxLineBytes)}}"}""");
        await Assert.ThrowsAsync<GuestAgentLimitExceededException>(() => over.WaitAsync(Patience));

        var under = agent.Client.HostNameAsync();
        await agent.ExpectAsync("guest-get-host-name", $$"""{"host-name": "{{new string('b', Defaults.MaxLineBytes - 100)}}"}""");
        Assert.Equal(new string('b', GuestAgentLimits.MaxHostNameChars), await under.WaitAsync(Patience));
    }

    [Theory]
    [InlineData("{\"return\": {\"host-name\": ")]
    [InlineData("[1, 2]")]
    [InlineData("{\"return\": {}} {\"return\": {}}")]
    [InlineData("{\"event\": \"SHUTDOWN\"}")]
    public async Task A_reply_that_is_not_one_json_reply_object_is_a_protocol_error_and_the_next_command_works(string line)
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var ping = agent.Client.PingAsync();
        await agent.ReceiveCommandAsync("guest-ping");
        await agent.SendAsync(line);
        await Assert.ThrowsAsync<GuestAgentProtocolException>(() => ping.WaitAsync(Patience));

        var next = agent.Client.PingAsync();
        await agent.ExpectAsync("guest-ping");
        await next.WaitAsync(Patience);
    }

    [Theory]
    [InlineData("guest-get-host-name", """{"host-name": 5}""")]
    [InlineData("guest-get-host-name", """{}""")]
    [InlineData("guest-get-host-name", """ "web-1" """)]
    [InlineData("guest-get-host-name", """{"host-name": "\udc00"}""")]
    [InlineData("guest-info", """{"version": "8.2", "supported_commands": [{"name": "guest-ping", "enabled": "yes"}]}""")]
    [InlineData("guest-info", """{"version": "8.2", "supported_commands": ["guest-ping"]}""")]
    [InlineData("guest-get-osinfo", """{"pretty-name": ["Debian"]}""")]
    [InlineData("guest-network-get-interfaces", """{"name": "eth0"}""")]
    [InlineData("guest-network-get-interfaces", """[{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.0.1", "prefix": "24"}]}]""")]
    [InlineData("guest-fsfreeze-freeze", "-1")]
    [InlineData("guest-fsfreeze-freeze", "1.5")]
    [InlineData("guest-fsfreeze-thaw", "\"3\"")]
    [InlineData("guest-fsfreeze-status", "\"melting\"")]
    public async Task A_reply_of_the_wrong_shape_is_a_protocol_error_naming_the_command(string command, string returnJson)
    {
        await using var agent = await FakeGuestAgent.StartAsync();
        var client = agent.Client;
        Func<Task> run = command switch
        {
            "guest-get-host-name" => () => client.HostNameAsync(),
            "guest-info" => () => client.InfoAsync(),
            "guest-get-osinfo" => () => client.OsInfoAsync(),
            "guest-network-get-interfaces" => () => client.NetworkInterfacesAsync(),
            "guest-fsfreeze-freeze" => () => client.FreezeAsync(),
            "guest-fsfreeze-thaw" => () => client.ThawAsync(),
            _ => () => client.FreezeStatusAsync(),
        };

        var running = run();
        await agent.ExpectAsync(command, returnJson);

        var error = await Assert.ThrowsAsync<GuestAgentProtocolException>(() => running.WaitAsync(Patience));
        Assert.StartsWith($"'{command}'", error.Message);
    }

    [Fact]
    public async Task An_error_reply_is_an_error_with_its_class_and_a_cleaned_description()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var ping = agent.Client.PingAsync();
        await agent.ReceiveCommandAsync("guest-ping");
        var desc = "\\u001b[31mboom\\r\\nroot# \\u202Eevil\\u0000" + new string('d', 1000);
        await agent.SendAsync($$$"""{"error": {"class": "Generic\nError", "desc": "{{{desc}}}"}}""");

        var error = await Assert.ThrowsAsync<GuestAgentErrorException>(() => ping.WaitAsync(Patience));
        Assert.Equal("Generic?Error", error.ErrorClass);
        Assert.StartsWith("?[31mboom??root# ?evil?ddd", error.Description);
        Assert.Equal(GuestAgentLimits.MaxTextChars, error.Description.Length);
        Assert.DoesNotContain(error.Message, char.IsControl);
    }

    [Fact]
    public async Task Strings_are_cleaned_of_hidden_characters_and_cut_without_splitting_a_character()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var os = agent.Client.OsInfoAsync();
        var huge = new string('k', GuestAgentLimits.MaxTextChars - 1) + "😀tail";
        await agent.ExpectAsync("guest-get-osinfo", $$"""
            {"pretty-name": "Debian\u0007 12\u001b[2J", "id": "deb\u200Bian\u2028", "version-id": "\uE000 12", "kernel-release": "{{huge}}"}
            """.Trim());

        var result = await os.WaitAsync(Patience);
        Assert.Equal("Debian? 12?[2J", result.PrettyName);
        Assert.Equal("deb?ian?", result.Id);
        Assert.Equal("? 12", result.VersionId);
        // The emoji is two UTF-16 characters: it does not fit in the last one, so the cut comes before it.
        Assert.Equal(new string('k', GuestAgentLimits.MaxTextChars - 1), result.KernelRelease);
    }

    [Fact]
    public async Task Addresses_that_do_not_parse_or_do_not_match_their_type_or_prefix_are_left_out()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var interfaces = agent.Client.NetworkInterfacesAsync();
        string Address(string type, string address, int prefix) =>
            $$"""{"ip-address-type": "{{type}}", "ip-address": "{{address}}", "prefix": {{prefix}}}""";
        string[] addresses =
        [
            Address("ipv4", "10.0.0.5", 24),
            Address("ipv4", "999.1.1.1", 24),
            Address("ipv4", "127.1", 8),
            Address("ipv4", "0x7f.0.0.1", 8),
            Address("ipv4", "10.0.0.6", 33),
            Address("ipv4", "10.0.0.7", -1),
            Address("ipv4", "fe80::1", 64),
            Address("ipv6", "10.0.0.8", 24),
            Address("ipv6", "fe80::zz", 64),
            Address("ipv6", "fe80::1%eth0", 64),
            Address("ipv6", "2001:db8::1", 129),
            Address("ipx", "10.0.0.9", 24),
            Address("ipv4", "10.0.0.10<script>", 24),
            """{"ip-address-type": "ipv4", "ip-address": "10.0.0.11"}""",
        ];
        await agent.ExpectAsync("guest-network-get-interfaces", $$"""[{"name": "eth0", "ip-addresses": [{{string.Join(", ", addresses)}}]}]""");

        var eth0 = Assert.Single(await interfaces.WaitAsync(Patience));
        Assert.Equal(["10.0.0.5/24", "fe80::1/64"], eth0.Addresses.Select(a => $"{a.Address}/{a.Prefix}"));
        Assert.Equal(0, eth0.Addresses[1].Address.ScopeId);
    }

    [Fact]
    public async Task Lists_are_cut_after_their_bounds()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var interfaces = agent.Client.NetworkInterfacesAsync();
        var addresses = string.Join(", ", Enumerable.Range(0, 100).Select(i => $$"""{"ip-address-type": "ipv4", "ip-address": "10.0.{{i}}.1", "prefix": 24}"""));
        var list = Enumerable.Range(0, 100).Select(i => i == 0 ? $$"""{"name": "eth0", "ip-addresses": [{{addresses}}]}""" : $$"""{"name": "eth{{i}}"}""");
        await agent.ExpectAsync("guest-network-get-interfaces", $"[{string.Join(", ", list)}]");

        var result = await interfaces.WaitAsync(Patience);
        Assert.Equal(GuestAgentLimits.MaxInterfaces, result.Count);
        Assert.Equal(GuestAgentLimits.MaxAddressesPerInterface, result[0].Addresses.Count);

        var info = agent.Client.InfoAsync();
        var commands = string.Join(", ", Enumerable.Range(0, 1000).Select(i => $$"""{"name": "c{{i}}", "enabled": true}"""));
        await agent.ExpectAsync("guest-info", $$"""{"version": "8.2", "supported_commands": [{{commands}}]}""");
        Assert.Equal(GuestAgentLimits.MaxSupportedCommands, (await info.WaitAsync(Patience)).SupportedCommands.Count);
    }
}
