using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Net.Security;
using Microsoft.AspNetCore.SignalR.Client;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Engine.Networks;

namespace Paddock.Bench;

/// <summary>
/// A host without QEMU (issue #24's hollow agent, as kubemark's hollow nodes): it joins with a
/// real join token, holds its own credential, dials the real hub, registers, and answers every
/// command as an agent does (accepted at once, the VM's new state and the outcome after a delay
/// like the real one's), reports its use every few seconds. Many fit in one process; nothing inside the portal knows it is hollow.
/// </summary>
public sealed class HollowHost(string portalUrl, string name, Func<HttpMessageHandler> handler, RemoteCertificateValidationCallback trust, HollowDelays delays)
    : IAsyncDisposable
{
    private readonly ConcurrentDictionary<Guid, HollowVm> _vms = new();
    private HubConnection? _hub;
    private string? _credential;
    private int _commands;

    public Guid Id { get; } = Guid.NewGuid();

    public string Name { get; } = name;

    /// <summary>Commands this host was sent.</summary>
    public int Commands => Volatile.Read(ref _commands);

    /// <summary>The VMs it carries now.</summary>
    public int Vms => _vms.Count;

    /// <summary>What it declares: 64 vCPUs, 256 GiB, 4 TiB (the bench sets the fleet's ratios).</summary>
    public static readonly (int Cpus, long MemoryBytes, long DiskBytes) Size = (64, 256L << 30, 4L << 40);

    /// <summary>Trades <paramref name="joinToken"/> for the host's own credential, as an agent's first start does.</summary>
    public async Task JoinAsync(string joinToken, CancellationToken ct)
    {
        using var http = new HttpClient(handler()) { BaseAddress = new Uri(portalUrl) };
        using var response = await http.PostAsJsonAsync(EnrollRequest.EnrollPath, new EnrollRequest(joinToken, Id, Name), ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{Name} could not join ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(ct)}");
        }

        _credential = (await response.Content.ReadFromJsonAsync<EnrollResponse>(ct))!.Credential;
    }

    /// <summary>Dials the hub and registers with the VMs it carries.</summary>
    public async Task ConnectAsync(CancellationToken ct)
    {
        var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(new Uri(portalUrl), "/hubs/hosts"), o =>
            {
                o.AccessTokenProvider = () => Task.FromResult(_credential);
                o.HttpMessageHandlerFactory = _ => handler();
                o.WebSocketConfiguration = ws => ws.RemoteCertificateValidationCallback = trust;
            })
            .Build();
        hub.On<VmCommand, CommandAck>(nameof(IHostAgent.Execute), Accept);
        hub.On<ConsoleDial, CommandAck>(nameof(IHostAgent.OpenConsole), _ => CommandAck.Refuse(Guid.Empty, "A hollow host has no screens."));
        hub.On<HostSettings>(nameof(IHostAgent.ApplyHostSettings), _ => { });
        hub.On<IReadOnlyList<HostNetwork>>(nameof(IHostAgent.ApplyNetworks), _ => { });
        await hub.StartAsync(ct);
        _hub = hub;
        // As an agent does: the first part of its VMs' states in the registration, the rest after it.
        var states = HubParts.Split([.. _vms.Values.Select(v => v.Report())]);
        var welcome = await hub.InvokeAsync<HostWelcome>(nameof(IHostHub.Register), Registration(states[0]), ct);
        if (!welcome.Accepted)
        {
            throw new InvalidOperationException($"{Name} was not registered: {welcome.Refusal}");
        }

        foreach (var state in states.Skip(1).SelectMany(part => part))
        {
            await hub.InvokeAsync(nameof(IHostHub.ReportVm), state, ct);
        }
    }

    /// <summary>What an agent reports every few seconds, in parts as an agent does: QEMU's use (made up, about what an idle small guest uses).</summary>
    public async Task ReportUsageAsync(CancellationToken ct)
    {
        if (_hub is not { State: HubConnectionState.Connected } hub)
        {
            return;
        }

        var vms = _vms.Values.Where(v => v.State == VmPowerState.Running).Select(v => new VmUsage(v.Id, 48L << 20, v.CpuSeconds += 0.05)).ToList();
        var usage = new HostUsage(vms.Sum(v => v.RssBytes), vms.Sum(v => v.CpuSeconds), vms,
            new KsmStatus(false, false, 0, 0, 0, null), DateTimeOffset.UtcNow, false, DiskFreeBytes: Size.DiskBytes / 2);
        foreach (var part in HubParts.Split(usage))
        {
            await hub.SendAsync(nameof(IHostHub.ReportUsage), part, ct);
        }
    }

    private HostRegistration Registration(IReadOnlyList<VmReport> states) => new(
        Id, Name, ContractVersion.Current, Size.Cpus, Size.MemoryBytes, Size.DiskBytes, "kvm", null, "hollow", "DAC + seccomp",
        states, Images: ["builtin-busybox.qcow2"]);

    private CommandAck Accept(VmCommand command)
    {
        Interlocked.Increment(ref _commands);
        _ = Task.Run(() => CarryOutAsync(command));
        return CommandAck.Accept(command.OperationId);
    }

    private async Task CarryOutAsync(VmCommand command)
    {
        var vm = _vms.GetOrAdd(command.VmId, id => new HollowVm(id, command.Spec?.Label, command.Spec?.Uid));
        await Task.Delay(delays.Of(command.Verb));
        string? failure = null;
        if (HollowVm.After(command, vm.State) is { } state)
        {
            vm.State = state;
        }
        else
        {
            failure = $"A hollow host does not {command.Verb}.";
        }

        if (vm.State == VmPowerState.Missing)
        {
            _vms.TryRemove(vm.Id, out _);
        }

        if (_hub is not { } hub)
        {
            return;
        }

        try
        {
            await hub.SendAsync(nameof(IHostHub.ReportVm), vm.Report());
            await hub.SendAsync(nameof(IHostHub.ReportOperation),
                new OperationReport(command.OperationId, command.VmId, failure is null ? OperationState.Succeeded : OperationState.Failed, failure));
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            // Not connected just now: the portal asks again once the host is back (as it does of a real agent whose outbox it lost).
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_hub is { } hub)
        {
            await hub.DisposeAsync();
        }
    }
}

/// <summary>One VM of a hollow host.</summary>
public sealed class HollowVm(Guid id, string? label, int? uid)
{
    public Guid Id { get; } = id;

    public VmPowerState State { get; set; } = VmPowerState.Creating;

    public double CpuSeconds { get; set; }

    public VmReport Report() => new(Id, State, DateTimeOffset.UtcNow, Uid: uid, Label: label);

    /// <summary>The state <paramref name="command"/> leaves a VM in that was <paramref name="before"/>; null for what a hollow host does not do.</summary>
    public static VmPowerState? After(VmCommand command, VmPowerState before) => command.Verb switch
    {
        VmVerb.Create => command.StartAfterCreate ? VmPowerState.Running : VmPowerState.Stopped,
        VmVerb.Start or VmVerb.Resume or VmVerb.Restore or VmVerb.Reset or VmVerb.Reboot => VmPowerState.Running,
        VmVerb.Shutdown or VmVerb.PowerOff => VmPowerState.Stopped,
        VmVerb.Pause => VmPowerState.Paused,
        VmVerb.Save => VmPowerState.Saved,
        VmVerb.Delete => VmPowerState.Missing,
        VmVerb.Configure or VmVerb.Snapshot or VmVerb.DeleteSnapshot or VmVerb.RevertSnapshot or VmVerb.SendKeys => before,
        _ => null,
    };
}

/// <summary>How long a hollow host takes per verb: about what a real agent takes for a small guest on this machine.</summary>
public sealed record HollowDelays(TimeSpan Create, TimeSpan Start, TimeSpan Stop, TimeSpan Other)
{
    public static readonly HollowDelays Realistic = new(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(50));

    public TimeSpan Of(VmVerb verb) => verb switch
    {
        VmVerb.Create => Create,
        VmVerb.Start or VmVerb.Restore => Start,
        VmVerb.Shutdown or VmVerb.PowerOff or VmVerb.Delete => Stop,
        _ => Other,
    };
}
