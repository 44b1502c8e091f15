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

        var now = clock.GetUtcNow();
        await using (var session = store.LightweightSession())
        {
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
            host.Connected = true;
            host.LastSeenAt = now;
            session.Store(host);
            await session.SaveChangesAsync();
        }

        Context.Items[HostIdKey] = registration.HostId;
        connections.Connected(registration.HostId, Context.ConnectionId);
        log.LogInformation("Host {Name} ({Host}) registered with {Count} VMs, accelerator {Accel}", registration.Name, registration.HostId, registration.Vms.Count, registration.Accelerator);

        foreach (var report in registration.Vms)
        {
            await observations.ObserveAsync(registration.HostId, report);
        }

        await dispatcher.HostReturnedAsync(registration.HostId);
        hostNotifier.Publish(new HostsChanged());
        return new HostWelcome(true);
    }

    public Task ReportVm(VmReport report) => observations.ObserveAsync(CurrentHost(), report);

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
            if (await session.LoadAsync<HostRecord>(hostId) is { } host)
            {
                host.Connected = false;
                host.LastSeenAt = clock.GetUtcNow();
                session.Store(host);
                await session.SaveChangesAsync();
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
