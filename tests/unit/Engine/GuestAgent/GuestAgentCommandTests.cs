using System.Net;
using System.Text;
using Paddock.Engine.GuestAgent;

namespace Paddock.Unit.Engine.GuestAgent;

/// <summary>Each command as qemu-ga answers it: what is sent, and what comes back typed.</summary>
public sealed class GuestAgentCommandTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Ping_syncs_first_and_returns_when_the_agent_answers()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var ping = agent.Client.PingAsync();
        var command = await agent.ExpectAsync("guest-ping");

        await ping.WaitAsync(Patience);
        Assert.False(command.TryGetProperty("arguments", out _));
        Assert.False(command.TryGetProperty("id", out _));
    }

    [Fact]
    public async Task Every_command_syncs_with_a_fresh_id()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var ids = new HashSet<long>();
        for (var i = 0; i < 5; i++)
        {
            var ping = agent.Client.PingAsync();
            ids.Add(await agent.AnswerSyncAsync());
            await agent.ReceiveAsync();
            await agent.SendAsync("""{"return": {}}""");
            await ping.WaitAsync(Patience);
        }

        Assert.Equal(5, ids.Count);
    }

    [Fact]
    public async Task Info_returns_the_version_and_only_the_enabled_commands()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var info = agent.Client.InfoAsync();
        await agent.ExpectAsync("guest-info", """
            {"version": "8.2.2", "supported_commands": [
              {"enabled": true, "name": "guest-ping", "success-response": true},
              {"enabled": false, "name": "guest-exec", "success-response": true},
              {"enabled": true, "name": "guest-shutdown", "success-response": false}]}
            """.ReplaceLineEndings(""));

        var result = await info.WaitAsync(Patience);
        Assert.Equal("8.2.2", result.Version);
        Assert.Equal(["guest-ping", "guest-shutdown"], result.SupportedCommands);
    }

    [Fact]
    public async Task OsInfo_reads_the_os_release_fields_and_leaves_missing_ones_null()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var os = agent.Client.OsInfoAsync();
        await agent.ExpectAsync("guest-get-osinfo", """
            {"name": "Debian GNU/Linux", "kernel-release": "6.1.0-18-amd64", "version": "12 (bookworm)",
             "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version-id": "12", "kernel-version": "#1 SMP", "machine": "x86_64", "id": "debian"}
            """.ReplaceLineEndings(""));
        Assert.Equal(new GuestOsInfo("Debian GNU/Linux 12 (bookworm)", "debian", "12", "6.1.0-18-amd64"), await os.WaitAsync(Patience));

        var sparse = agent.Client.OsInfoAsync();
        await agent.ExpectAsync("guest-get-osinfo", """{"id": "mswindows", "version-id": null}""");
        Assert.Equal(new GuestOsInfo(null, "mswindows", null, null), await sparse.WaitAsync(Patience));
    }

    [Fact]
    public async Task HostName_returns_the_guest_s_host_name()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var name = agent.Client.HostNameAsync();
        await agent.ExpectAsync("guest-get-host-name", """{"host-name": "web-1"}""");

        Assert.Equal("web-1", await name.WaitAsync(Patience));
    }

    [Fact]
    public async Task NetworkInterfaces_returns_names_hardware_addresses_and_parsed_addresses()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var interfaces = agent.Client.NetworkInterfacesAsync();
        await agent.ExpectAsync("guest-network-get-interfaces", """
            [{"name": "lo", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
                                             {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}],
              "statistics": {"tx-packets": 0}, "hardware-address": "00:00:00:00:00:00"},
             {"name": "eth0", "hardware-address": "52:54:00:12:34:56",
              "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.2.15", "prefix": 24},
                               {"ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:fe12:3456", "prefix": 64}]},
             {"name": "dummy0"}]
            """.ReplaceLineEndings(""));

        var result = await interfaces.WaitAsync(Patience);
        Assert.Equal(["lo", "eth0", "dummy0"], result.Select(i => i.Name));
        var eth0 = result[1];
        Assert.Equal("52:54:00:12:34:56", eth0.HardwareAddress);
        Assert.Equal(
            [new GuestIpAddress(IPAddress.Parse("10.0.2.15"), 24, GuestIpFamily.IPv4), new GuestIpAddress(IPAddress.Parse("fe80::5054:ff:fe12:3456"), 64, GuestIpFamily.IPv6)],
            eth0.Addresses);
        Assert.Null(result[2].HardwareAddress);
        Assert.Empty(result[2].Addresses);
    }

    [Theory]
    [InlineData(GuestShutdownMode.Powerdown, "powerdown")]
    [InlineData(GuestShutdownMode.Reboot, "reboot")]
    [InlineData(GuestShutdownMode.Halt, "halt")]
    public async Task Shutdown_sends_the_mode_and_succeeds_without_a_reply(GuestShutdownMode mode, string expected)
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var shutdown = agent.Client.ShutdownAsync(mode);
        var command = await agent.ReceiveCommandAsync("guest-shutdown");

        // qemu-ga answers nothing when it complies: the client gives up waiting after NoReplyWindow.
        await shutdown.WaitAsync(Patience);
        Assert.Equal(expected, command.GetProperty("arguments").GetProperty("mode").GetString());
    }

    [Fact]
    public async Task Shutdown_succeeds_when_the_agent_answers_with_an_empty_return()
    {
        await using var agent = await FakeGuestAgent.StartAsync(new GuestAgentOptions { NoReplyWindow = TimeSpan.FromSeconds(30) });

        var shutdown = agent.Client.ShutdownAsync(GuestShutdownMode.Powerdown);
        await agent.ExpectAsync("guest-shutdown");

        await shutdown.WaitAsync(Patience);
    }

    [Fact]
    public async Task Shutdown_succeeds_when_the_socket_closes()
    {
        await using var agent = await FakeGuestAgent.StartAsync(new GuestAgentOptions { NoReplyWindow = TimeSpan.FromSeconds(30) });

        var shutdown = agent.Client.ShutdownAsync(GuestShutdownMode.Powerdown);
        await agent.ReceiveCommandAsync("guest-shutdown");
        agent.Close();

        await shutdown.WaitAsync(Patience);
    }

    [Fact]
    public async Task Shutdown_refused_by_the_agent_is_an_error()
    {
        await using var agent = await FakeGuestAgent.StartAsync(new GuestAgentOptions { NoReplyWindow = TimeSpan.FromSeconds(30) });

        var shutdown = agent.Client.ShutdownAsync(GuestShutdownMode.Halt);
        await agent.ReceiveCommandAsync("guest-shutdown");
        await agent.SendAsync("""{"error": {"class": "GenericError", "desc": "guest-shutdown has been disabled"}}""");

        var error = await Assert.ThrowsAsync<GuestAgentErrorException>(() => shutdown.WaitAsync(Patience));
        Assert.Equal("guest-shutdown", error.Command);
        Assert.Equal("guest-shutdown has been disabled", error.Description);
    }

    [Fact]
    public async Task Freeze_and_thaw_return_how_many_file_systems_they_touched()
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var freeze = agent.Client.FreezeAsync();
        await agent.ExpectAsync("guest-fsfreeze-freeze", "3");
        Assert.Equal(3, await freeze.WaitAsync(Patience));

        var thaw = agent.Client.ThawAsync();
        await agent.ExpectAsync("guest-fsfreeze-thaw", "3");
        Assert.Equal(3, await thaw.WaitAsync(Patience));
    }

    [Theory]
    [InlineData("\"frozen\"", GuestFreezeStatus.Frozen)]
    [InlineData("\"thawed\"", GuestFreezeStatus.Thawed)]
    public async Task FreezeStatus_reads_frozen_or_thawed(string returnJson, GuestFreezeStatus expected)
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var status = agent.Client.FreezeStatusAsync();
        await agent.ExpectAsync("guest-fsfreeze-status", returnJson);

        Assert.Equal(expected, await status.WaitAsync(Patience));
    }

    [Theory]
    [InlineData("s3cret pässword", false)]
    [InlineData("$6$salt$hash", true)]
    public async Task SetUserPassword_sends_the_password_as_base64_of_its_utf8_bytes(string password, bool crypted)
    {
        await using var agent = await FakeGuestAgent.StartAsync();

        var set = agent.Client.SetUserPasswordAsync("debian", password, crypted);
        var command = await agent.ExpectAsync("guest-set-user-password");

        await set.WaitAsync(Patience);
        var arguments = command.GetProperty("arguments");
        Assert.Equal("debian", arguments.GetProperty("username").GetString());
        Assert.Equal(password, Encoding.UTF8.GetString(Convert.FromBase64String(arguments.GetProperty("password").GetString()!)));
        Assert.Equal(crypted, arguments.GetProperty("crypted").GetBoolean());
    }
}
