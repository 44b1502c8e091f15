using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Hosts;

/// <summary>Where host agents dial in. Only the agent scheme is accepted here.</summary>
[Authorize(Policy = AgentAuthentication.Policy)]
public sealed class HostAgentHub(
    IDocumentStore store,
    HostConnections connections,
    VmObservations observations,
    CommandDispatcher dispatcher,
    ChangeNotifier<HostsChanged> hostNotifier,
    ChangeNotifier<HostUsageChanged> usageNotifier,
    TimeProvider clock,
    ILogger<HostAgentHub> log) : Hub<IHostAgent>, IHostHub
{
    public const string Path = "/hubs/hosts";

    private const string HostIdKey = "host-id";

    public async Task<HostWelcome> Register(HostRegistration registration)
    {
        if (registration.ContractVersion != ContractVersion.Current)
        {
            return new HostWelcome(false, $"Contract version {registration.ContractVersion} is not {ContractVersion.Current}; update the agent.");
        }

        // A host speaks only for itself: its credential names it.
        if (AgentAuthentication.HostOf(Context.User) != registration.HostId)
        {
            log.LogWarning("A host with the credential of {Credential} tried to register as {Host}", AgentAuthentication.HostOf(Context.User), registration.HostId);
            return new HostWelcome(false, "This credential belongs to another host.");
        }

        var now = clock.GetUtcNow();
        for (var attempt = 1; ; attempt++)
        {
            await using var session = store.LightweightSession();
            var host = await session.LoadAsync<HostRecord>(registration.HostId) ?? new HostRecord { Id = registration.HostId, RegisteredAt = now };
            host.Name = registration.Name;
            host.ContractVersion = registration.ContractVersion;
            host.LogicalCpus = registration.LogicalCpus;
            host.MemoryBytes = registration.MemoryBytes;
            host.DiskBytes = registration.DiskBytes;
            host.Accelerator = registration.Accelerator;
            host.AcceleratorWarning = registration.AcceleratorWarning;
            host.QemuVersion = registration.QemuVersion;
            host.Confinement = registration.Confinement;
            host.ConfinementMissing = [.. registration.ConfinementMissing ?? []];
            host.Images = [.. registration.Images ?? []];
            host.Connected = true;
            host.Unreachable = false;
            host.NumaNodes = registration.NumaNodes;
            host.HugePagesTotal = registration.HugePagesTotal;
            host.HugePageBytes = registration.HugePageBytes;
            host.KsmAvailable = registration.KsmAvailable;
            host.KsmNote = registration.KsmNote;
            host.ConnectionId = Context.ConnectionId;
            host.LastSeenAt = now;
            session.Store(host);
            try
            {
                await session.SaveChangesAsync();
                break;
            }
            catch (JasperFx.ConcurrencyException) when (attempt < 5)
            {
                // The old connection's goodbye landed meanwhile; write again on top of it.
            }
        }

        Context.Items[HostIdKey] = registration.HostId;
        connections.Connected(registration.HostId, Context);
        log.LogInformation("Host {Name} ({Host}) registered with {Count} VMs, accelerator {Accel}", registration.Name, registration.HostId, registration.Vms.Count, registration.Accelerator);

        // Settings first: a command resent below may be a start that needs the host's leave to run unconfined.
        await Clients.Caller.ApplyHostSettings(await Placement.PlacementService.SettingsOfAsync(store, registration.HostId));
        foreach (var report in registration.Vms)
        {
            await observations.ObserveAsync(registration.HostId, report);
        }

        await dispatcher.HostReturnedAsync(registration.HostId);
        hostNotifier.Publish(new HostsChanged());
        return new HostWelcome(true);
    }

    public Task ReportVm(VmReport report) => observations.ObserveAsync(CurrentHost(), report);

    public async Task ReportUsage(HostUsage usage)
    {
        var hostId = CurrentHost();
        await using var session = store.LightweightSession();
        var previous = await session.LoadAsync<HostUsageReport>(hostId);
        var cpus = (await session.LoadAsync<HostRecord>(hostId))?.LogicalCpus ?? 1;
        var seconds = previous is null ? 0 : (usage.At - previous.At).TotalSeconds;
        session.Store(new HostUsageReport
        {
            Id = hostId,
            RssBytes = usage.RssBytes,
            CpuSeconds = usage.CpuSeconds,
            // Between two reports; a VM that ended meanwhile may make the difference negative.
            CpuPercent = seconds > 0 ? Math.Max(0, (usage.CpuSeconds - previous!.CpuSeconds) / seconds / Math.Max(1, cpus) * 100) : 0,
            Ksm = usage.Ksm,
            ManagesKsm = usage.ManagesKsm,
            KsmProblem = usage.KsmProblem,
            Vms = [.. usage.Vms],
            At = usage.At,
        });
        await session.SaveChangesAsync();
        usageNotifier.Publish(new HostUsageChanged(hostId));
    }

    public async Task ReportOperation(OperationReport report)
    {
        await observations.CompleteAsync(CurrentHost(), report);
        dispatcher.Wake();
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        if (connections.Disconnected(Context.ConnectionId) is { } hostId)
        {
            await using var session = store.LightweightSession();
            // Only if the host has not come back on a new connection meanwhile (version-checked).
            if (await session.LoadAsync<HostRecord>(hostId) is { } host && host.ConnectionId == Context.ConnectionId)
            {
                host.Connected = false;
                host.LastSeenAt = clock.GetUtcNow();
                session.Store(host);
                try
                {
                    await session.SaveChangesAsync();
                }
                catch (JasperFx.ConcurrencyException)
                {
                    // It registered again just now: it is connected.
                }
            }

            hostNotifier.Publish(new HostsChanged());
        }

        await base.OnDisconnectedAsync(exception);
    }

    private Guid CurrentHost() =>
        Context.Items.TryGetValue(HostIdKey, out var id) && id is Guid hostId
            ? hostId
            : throw new HubException("Register first.");
}

public sealed record HostsChanged;
