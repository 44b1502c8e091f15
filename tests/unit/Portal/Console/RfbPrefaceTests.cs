using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Paddock.Portal.Features.Console;

namespace Paddock.Unit.Portal.Console;

/// <summary>The handshake done ahead, over real WebSockets on loopback: one side plays QEMU's VNC server or a browser.</summary>
public sealed class RfbPrefaceTests
{
    private static readonly byte[] ServerInit = [.. new byte[] { 3, 32, 2, 88 }, .. new byte[16], 0, 0, 0, 8, .. "QEMU (x)"u8];

    [Fact]
    public async Task The_vm_session_opens_shared_with_security_none_and_keeps_the_server_init()
    {
        var (portal, vm) = await PairAsync();
        var server = PlayQemuAsync(vm, [2, 1]);
        var preface = await RfbPreface.OpenAsync(portal, TimeProvider.System, Timeout());
        Assert.Equal(1, await server);

        var (toBrowser, browser) = await PairAsync();
        var serving = preface.ServeAsync(toBrowser, Timeout());
        Assert.Equal(RfbPreface.Version38, Encoding.ASCII.GetString(await ReceiveAsync(browser, 12)));
        await SendAsync(browser, "RFB 003.008\n"u8.ToArray());
        Assert.Equal(new byte[] { 1, 1 }, await ReceiveAsync(browser, 2));
        await SendAsync(browser, [1]);
        Assert.Equal(new byte[] { 0, 0, 0, 0 }, await ReceiveAsync(browser, 4));
        // An exclusive ClientInit and a FramebufferUpdateRequest in one message: the request is the rest.
        await SendAsync(browser, [0, 3, 0, 0, 0, 0, 0, 3, 32, 2, 88]);
        Assert.Equal(ServerInit, await ReceiveAsync(browser, ServerInit.Length));
        Assert.Equal(new byte[] { 3, 0, 0, 0, 0, 0, 3, 32, 2, 88 }, await serving);
    }

    [Theory]
    [InlineData("RFB 003.003\n")]
    [InlineData("RFB 003.007\n")]
    public async Task Older_browsers_get_their_versions_handshake(string version)
    {
        var preface = await OpenAsync();
        var (toBrowser, browser) = await PairAsync();
        var serving = preface.ServeAsync(toBrowser, Timeout());
        await ReceiveAsync(browser, 12);
        await SendAsync(browser, Encoding.ASCII.GetBytes(version));
        if (version == "RFB 003.003\n")
        {
            Assert.Equal(new byte[] { 0, 0, 0, 1 }, await ReceiveAsync(browser, 4));
        }
        else
        {
            Assert.Equal(new byte[] { 1, 1 }, await ReceiveAsync(browser, 2));
            await SendAsync(browser, [1]);
        }

        await SendAsync(browser, [1]);
        Assert.Equal(ServerInit, await ReceiveAsync(browser, ServerInit.Length));
        Assert.Empty(await serving);
    }

    [Fact]
    public async Task A_server_that_wants_a_password_is_refused()
    {
        var (portal, vm) = await PairAsync();
        _ = PlayQemuAsync(vm, [2]);
        var refused = await Assert.ThrowsAsync<InvalidDataException>(() => RfbPreface.OpenAsync(portal, TimeProvider.System, Timeout()));
        Assert.Contains("password", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_speaking_another_version_or_naming_a_huge_desktop_is_refused()
    {
        var (portal, vm) = await PairAsync();
        await SendAsync(vm, "RFB 003.889\n"u8.ToArray());
        Assert.Contains("RFB 003.889", (await Assert.ThrowsAsync<InvalidDataException>(() => RfbPreface.OpenAsync(portal, TimeProvider.System, Timeout()))).Message, StringComparison.Ordinal);

        (portal, vm) = await PairAsync();
        _ = PlayQemuAsync(vm, [1], [.. ServerInit[..20], 0, 1, 0, 0]);
        Assert.Contains("65536 bytes", (await Assert.ThrowsAsync<InvalidDataException>(() => RfbPreface.OpenAsync(portal, TimeProvider.System, Timeout()))).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("RFB 004.000\n", null)]
    [InlineData("RFB 003.008\n", (byte)2)]
    public async Task A_browser_off_the_protocol_is_refused(string version, byte? security)
    {
        var preface = await OpenAsync();
        var (toBrowser, browser) = await PairAsync();
        var serving = preface.ServeAsync(toBrowser, Timeout());
        await ReceiveAsync(browser, 12);
        await SendAsync(browser, Encoding.ASCII.GetBytes(version));
        if (security is { } type)
        {
            await ReceiveAsync(browser, 2);
            await SendAsync(browser, [type]);
        }

        await Assert.ThrowsAsync<InvalidDataException>(() => serving);
    }

    private static async Task<RfbPreface> OpenAsync()
    {
        var (portal, vm) = await PairAsync();
        _ = PlayQemuAsync(vm, [1]);
        return await RfbPreface.OpenAsync(portal, TimeProvider.System, Timeout());
    }

    /// <summary>QEMU's side of the handshake, offering <paramref name="types"/>; the ClientInit's shared flag it got.</summary>
    private static async Task<byte> PlayQemuAsync(WebSocket vm, byte[] types, byte[]? serverInit = null)
    {
        await SendAsync(vm, "RFB 003.008\n"u8.ToArray());
        Assert.Equal(RfbPreface.Version38, Encoding.ASCII.GetString(await ReceiveAsync(vm, 12)));
        await SendAsync(vm, [(byte)types.Length, .. types]);
        if (!types.Contains((byte)1))
        {
            return 0;
        }

        Assert.Equal(new byte[] { 1 }, await ReceiveAsync(vm, 1));
        await SendAsync(vm, [0, 0, 0, 0]);
        var shared = (await ReceiveAsync(vm, 1))[0];
        await SendAsync(vm, serverInit ?? ServerInit);
        return shared;
    }

    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token;

    private static Task SendAsync(WebSocket socket, byte[] bytes) => socket.SendAsync(bytes, WebSocketMessageType.Binary, true, Timeout());

    private static async Task<byte[]> ReceiveAsync(WebSocket socket, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            read += (await socket.ReceiveAsync(buffer.AsMemory(read), Timeout())).Count;
        }

        return buffer;
    }

    /// <summary>Two WebSockets joined over a loopback TCP connection.</summary>
    private static async Task<(WebSocket Client, WebSocket Server)> PairAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        var accepting = listener.AcceptTcpClientAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var server = await accepting;
        return (WebSocket.CreateFromStream(client.GetStream(), isServer: false, null, TimeSpan.Zero),
            WebSocket.CreateFromStream(server.GetStream(), isServer: true, null, TimeSpan.Zero));
    }
}
