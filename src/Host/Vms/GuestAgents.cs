using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.GuestAgent;
using Paddock.Engine.Isolation;

namespace Paddock.Host.Vms;

/// <summary>
/// The QEMU guest agents of this host's running VMs that have one: each is asked, every usage
/// interval, whether it answers, the guest's OS, hostname and addresses; the usage report carries
/// the latest answer (<see cref="Latest"/>). The channel is QEMU's socket in the VM's own directory,
/// reached only after SO_PEERCRED says the VM's own QEMU listens there (<see cref="UnixPeer"/>).
/// Whatever the guest says is its word: the client cleans and caps it, and a silent, slow or
/// flooding agent costs only its own VM's answer (<see cref="Patience"/>).
/// </summary>
public sealed class GuestAgents(VmTable vms, IOptions<AgentOptions> options, TimeProvider clock, ILogger<GuestAgents> log) : BackgroundService
{
    /// <summary>How long each question may take: a guest under emulation, busy just after a snapshot, was seen to take over 2 s.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(4);

    private readonly ConcurrentDictionary<Guid, Channel> _channels = new();

    /// <summary>What the VM's guest agent said last; null for a VM without one or not asked yet.</summary>
    public GuestReport? Latest(Guid vmId) => _channels.TryGetValue(vmId, out var channel) ? channel.Report : null;

    /// <summary>What a Shutdown that went through the guest agent says when it ends.</summary>
    public const string ShutDownByAgent = "Shut down through the guest agent.";

    /// <summary>What a Reboot that went through the guest agent says when it ends.</summary>
    public const string RebootedByAgent = "Restarted through the guest agent.";

    /// <summary>Freezes the guest's file systems through its guest agent; false when it has none, did not answer lately, or could not.</summary>
    public async Task<bool> FreezeAsync(VmRuntime vm, CancellationToken ct)
    {
        if (!_channels.TryGetValue(vm.Id, out var channel) || channel.Report is not { Answering: true })
            return false;
        channel.Frozen = true;
        try
        {
            var frozen = await (await channel.ClientAsync(vm, ct)).FreezeAsync(ct, FreezePatience);
            log.LogInformation("VM {Vm}: the guest agent froze {Count} file systems", vm.Id, frozen);
            return true;
        }
        catch (Exception e) when (Failed(e))
        {
            log.LogWarning("VM {Vm}: the guest agent did not freeze the file systems ({Error}); the snapshot goes on without", vm.Id, e.Message);
            await ThawAsync(vm);
            return false;
        }
    }

    /// <summary>Thaws what <see cref="FreezeAsync"/> froze (or tried to): asked once, a failure logged.</summary>
    public async Task ThawAsync(VmRuntime vm)
    {
        if (!_channels.TryGetValue(vm.Id, out var channel))
            return;
        try
        {
            await (await channel.ClientAsync(vm, CancellationToken.None)).ThawAsync(CancellationToken.None, FreezePatience);
        }
        catch (Exception e) when (Failed(e))
        {
            log.LogWarning("VM {Vm}: the guest agent did not thaw the file systems ({Error})", vm.Id, e.Message);
        }
        finally
        {
            channel.Frozen = false;
        }
    }

    /// <summary>
    /// Sets <paramref name="user"/>'s password to the crypt <paramref name="hash"/> through the guest
    /// agent; an <see cref="InvalidOperationException"/> saying why when it has none, does not answer
    /// or refuses (an unknown user, say).
    /// </summary>
    public async Task SetPasswordAsync(VmRuntime vm, string user, string hash, CancellationToken ct)
    {
        if (!_channels.TryGetValue(vm.Id, out var channel) || channel.Report is not { Answering: true })
            throw new InvalidOperationException("The guest agent does not answer: wait until the guest has booted.");
        try
        {
            await (await channel.ClientAsync(vm, ct)).SetUserPasswordAsync(user, hash, crypted: true, ct, FreezePatience);
        }
        catch (GuestAgentErrorException e)
        {
            throw new InvalidOperationException($"The guest agent refused: {e.Description}");
        }
        catch (Exception e) when (Failed(e))
        {
            throw new InvalidOperationException($"The guest agent did not answer ({e.Message}).");
        }
    }

    /// <summary>How long a freeze or thaw may take: the guest flushes its caches first.</summary>
    public static readonly TimeSpan FreezePatience = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Asks the VM's guest agent to power the guest off or restart it; false when the VM has none, or
    /// it does not answer (asked even when it did not answer the last round: it may have been busy),
    /// or it refused. The caller falls back to ACPI or Ctrl-Alt-Del.
    /// </summary>
    public async Task<bool> AskAsync(VmRuntime vm, GuestShutdownMode mode, CancellationToken ct)
    {
        if (vm.Spec?.GuestAgent != true || !vm.IsRunning)
            return false;
        var channel = _channels.GetOrAdd(vm.Id, _ => new Channel());
        try
        {
            await (await channel.ClientAsync(vm, ct)).ShutdownAsync(mode, ct, Patience);
            log.LogInformation("VM {Vm}: the guest agent took the {Mode}", vm.Id, mode);
            return true;
        }
        catch (Exception e) when (Failed(e))
        {
            log.LogInformation("VM {Vm}: the guest agent did not take the {Mode} ({Error}); falling back", vm.Id, mode, e.Message);
            if (Lost(e))
                await channel.ResetAsync();
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.UsageInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var running = vms.All.Where(v => v.IsRunning && v.Spec?.GuestAgent == true && v.Process is { IsRunning: true }).ToList();
            foreach (var gone in _channels.Keys.Except(running.Select(v => v.Id)))
            {
                if (_channels.TryRemove(gone, out var channel))
                    await channel.DisposeAsync();
            }

            await Task.WhenAll(running.Select(vm => AskAsync(vm, _channels.GetOrAdd(vm.Id, _ => new Channel()), stoppingToken)));
        }
    }

    private async Task AskAsync(VmRuntime vm, Channel channel, CancellationToken ct)
    {
        // A frozen guest's agent answers nothing but thaw: a snapshot is under way, its report stands.
        if (channel.Frozen)
            return;
        try
        {
            var client = await channel.ClientAsync(vm, ct);
            await client.PingAsync(ct, Patience);
            channel.Os ??= (await client.OsInfoAsync(ct, Patience)).PrettyName;
            var hostname = await client.HostNameAsync(ct, Patience);
            var nics = await client.NetworkInterfacesAsync(ct, Patience);
            channel.Report = new GuestReport(true, Cut(channel.Os), Cut(hostname), [.. nics.Where(n => n.Name != "lo").Take(GuestReport.MaxNics).Select(Nic)]);
        }
        catch (Exception e) when (Failed(e))
        {
            // Not up yet, stopped, or saying nonsense: not answering. The client syncs again before its
            // next command; only a lost connection is made again.
            if (channel.Report is { Answering: true })
                log.LogInformation("VM {Vm}: its guest agent stopped answering ({Error})", vm.Id, e.Message);
            channel.Report = new GuestReport(false);
            if (Lost(e))
                await channel.ResetAsync();
        }
    }

    /// <summary>What a command to a guest agent may end in besides its answer: the agent's word, a silence, a lost or refused connection.</summary>
    private static bool Failed(Exception e) => e is GuestAgentException or SocketException or IOException or TamperingException or ObjectDisposedException or UnauthorizedAccessException;

    /// <summary>Whether the connection itself is gone (closed, refused, not the VM's QEMU): the next command connects again.</summary>
    private static bool Lost(Exception e) => e is GuestAgentConnectionClosedException or SocketException or IOException or TamperingException or ObjectDisposedException or UnauthorizedAccessException;

    private static GuestNic Nic(GuestNetworkInterface nic) =>
        new(Cut(nic.Name)!, Cut(nic.HardwareAddress), [.. nic.Addresses.Take(GuestReport.MaxAddresses).Select(a => $"{a.Address}/{a.Prefix}")]);

    private static string? Cut(string? text) => text is { Length: > GuestReport.MaxText } ? text[..GuestReport.MaxText] : text;

    /// <summary>One VM's connection to its guest agent and what it said.</summary>
    private sealed class Channel : IAsyncDisposable
    {
        private GuestAgentClient? _client;
        private Socket? _socket;

        public GuestReport? Report { get; set; }

        /// <summary>Between a snapshot's freeze and its thaw: the sampler leaves the agent alone.</summary>
        public bool Frozen { get; set; }

        /// <summary>The OS, asked once per connection.</summary>
        public string? Os { get; set; }

        public async Task<GuestAgentClient> ClientAsync(VmRuntime vm, CancellationToken ct)
        {
            if (_client is not null)
                return _client;
            var pid = vm.Process?.Pid ?? throw new IOException("The VM's QEMU is not running.");
            _socket = await UnixPeer.ConnectAsync(vm.Paths.GuestAgentSocket, pid, "the guest agent's channel", ct);
            _client = new GuestAgentClient(new NetworkStream(_socket, ownsSocket: true), new GuestAgentOptions { Timeout = Patience });
            return _client;
        }

        public async Task ResetAsync()
        {
            Os = null;
            if (_client is not null)
                await _client.DisposeAsync();
            _socket?.Dispose();
            (_client, _socket) = (null, null);
        }

        public ValueTask DisposeAsync() => new(ResetAsync());
    }
}
