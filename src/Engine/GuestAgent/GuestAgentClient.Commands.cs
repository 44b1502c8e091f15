using System.Text;
using System.Text.Json;

namespace Paddock.Engine.GuestAgent;

/// <summary>
/// One method per guest agent command, named for it, with its arguments spelled as qemu-ga wants them
/// (QEMU's qga/qapi-schema.json); the only place that knows command names. Each takes the usual
/// cancellation and, when given, a timeout instead of <see cref="GuestAgentOptions.Timeout"/>.
/// </summary>
public sealed partial class GuestAgentClient
{
    /// <summary>guest-ping: whether the agent answers at all.</summary>
    public Task PingAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-ping", null, static _ => true, ct, timeout);

    /// <summary>guest-info: the agent's version and the names of its enabled commands.</summary>
    public Task<GuestAgentInfo> InfoAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-info", null, GuestAgentInfo.From, ct, timeout);

    /// <summary>guest-get-osinfo: which operating system runs in the guest.</summary>
    public Task<GuestOsInfo> OsInfoAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-get-osinfo", null, GuestOsInfo.From, ct, timeout);

    /// <summary>guest-get-host-name: the guest's host name, cut to <see cref="GuestAgentLimits.MaxHostNameChars"/>.</summary>
    public Task<string> HostNameAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-get-host-name", null,
            static reply => GuestAgentMember.Text(GuestAgentMember.Object(reply, "return"), "host-name", GuestAgentLimits.MaxHostNameChars),
            ct, timeout);

    /// <summary>guest-network-get-interfaces: the guest's interfaces and the addresses it says they have.</summary>
    public Task<IReadOnlyList<GuestNetworkInterface>> NetworkInterfacesAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-network-get-interfaces", null, GuestNetworkInterface.ListFrom, ct, timeout);

    /// <summary>
    /// guest-shutdown: asks the guest's OS to power down, reboot or halt. The agent answers nothing when
    /// it complies, so this returns once no error came within <see cref="GuestAgentOptions.NoReplyWindow"/>;
    /// whether the guest went down is seen from QEMU (its SHUTDOWN event), not here.
    /// </summary>
    /// <exception cref="GuestAgentErrorException">The agent refused.</exception>
    public async Task ShutdownAsync(GuestShutdownMode mode, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        var name = mode switch
        {
            GuestShutdownMode.Powerdown => "powerdown",
            GuestShutdownMode.Reboot => "reboot",
            GuestShutdownMode.Halt => "halt",
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
        };
        await ExecuteAsync("guest-shutdown", new { mode = name }, ct, timeout, replyExpected: false).ConfigureAwait(false);
    }

    /// <summary>guest-fsfreeze-freeze: flushes and freezes the guest's file systems; returns how many it froze.</summary>
    /// <remarks>The agent may take long to flush a busy guest: give a <paramref name="timeout"/> to match.</remarks>
    public Task<int> FreezeAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-fsfreeze-freeze", null, static reply => Count(reply), ct, timeout);

    /// <summary>guest-fsfreeze-thaw: thaws the guest's file systems; returns how many it thawed.</summary>
    public Task<int> ThawAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-fsfreeze-thaw", null, static reply => Count(reply), ct, timeout);

    /// <summary>guest-fsfreeze-status.</summary>
    public Task<GuestFreezeStatus> FreezeStatusAsync(CancellationToken ct = default, TimeSpan? timeout = null) =>
        RunAsync("guest-fsfreeze-status", null, static reply =>
        {
            return GuestAgentMember.String(reply, "return") switch
            {
                "thawed" => GuestFreezeStatus.Thawed,
                "frozen" => GuestFreezeStatus.Frozen,
                var other => throw new GuestAgentProtocolException($"'return' is '{GuestAgentText.Clean(other, 32)}', neither thawed nor frozen"),
            };
        }, ct, timeout);

    /// <summary>
    /// guest-set-user-password: sets <paramref name="user"/>'s password in the guest, in clear or, with
    /// <paramref name="crypted"/>, as a crypt(3) hash. The agent wants it base64 of its UTF-8 bytes.
    /// </summary>
    public Task SetUserPasswordAsync(string user, string passwordOrHash, bool crypted, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        ArgumentNullException.ThrowIfNull(passwordOrHash);
        var password = Convert.ToBase64String(Encoding.UTF8.GetBytes(passwordOrHash));
        return RunAsync("guest-set-user-password", new { username = user, password, crypted }, static _ => true, ct, timeout);
    }

    private async Task<T> RunAsync<T>(string command, object? arguments, Func<JsonElement, T> parse, CancellationToken ct, TimeSpan? timeout)
    {
        var reply = await ExecuteAsync(command, arguments, ct, timeout).ConfigureAwait(false);
        try
        {
            return parse(reply!.Value);
        }
        catch (GuestAgentProtocolException e)
        {
            throw new GuestAgentProtocolException($"'{command}': {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // JsonElement's own complaint about a shape no check above caught.
            throw new GuestAgentProtocolException($"'{command}': the reply has an unexpected shape ({e.Message})", e);
        }
    }

    private static int Count(JsonElement reply)
    {
        var n = GuestAgentMember.Integer(reply, "return");
        return n is >= 0 and <= int.MaxValue ? (int)n : throw new GuestAgentProtocolException($"'return' is {n}, not a count");
    }
}
