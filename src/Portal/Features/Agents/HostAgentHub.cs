using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Agents;

/// <summary>Where host agents dial in. Only the agent scheme is accepted here.</summary>
[Authorize(Policy = AgentAuthentication.Policy)]
public sealed class HostAgentHub(
    IDocumentStore store,
    HostConnections connections,
    IAgentReports reports,
    IHostSettingsSource settings,
    IEnumerable<IHostArrivals> arrivals,
    CommandDispatcher dispatcher,
    ChangeNotifier<HostsChanged> hostNotifier,
    ChangeNotifier<HostUsageChanged> usageNotifier,
    TimeProvider clock,
    Microsoft.Extensions.Options.IOptions<PortalOptions> options,
    ILogger<HostAgentHub> log) : Hub<IHostAgent>, IHostHub
{
    public const string Path = "/hubs/hosts";

    private const string HostIdKey = "host-id";

    public async Task<HostWelcome> Register(HostRegistration registration)
    {
        AgentInput.Check(registration);
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
        // The old connection's goodbye may land meanwhile; then write again on top of it.
        await ConcurrencyRetry.RunAsync(async () =>
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
            host.Vxlan = registration.Vxlan;
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
            HostLease.Renew(session, [host.Id], now, options.Value.HostGrace);
            await session.SaveChangesAsync();
        });

        // What ended while the host was away comes first: nothing sent or failed below may overtake
        // a command's true end (a repeated one counts once). The agent confirms them when this returns.
        foreach (var outcome in registration.Outcomes ?? [])
        {
            try
            {
                await reports.CompleteAsync(registration.HostId, AgentInput.CheckFinished(outcome));
            }
            catch (HubException e)
            {
                // Refused alone (a figure out of range): the registration stands, and the host lets this one go.
                log.LogWarning("Host {Host} handed over an outcome the hub refuses: {Message}", registration.HostId, e.Message);
            }
        }

        Context.Items[HostIdKey] = registration.HostId;
        if (!connections.Connected(registration.HostId, Context))
        {
            // Gone while its registration was written (an agent killed just then): away, not connected for ever.
            await HostLeftAsync(registration.HostId);
            return new HostWelcome(false, "The connection closed while the host registered.");
        }

        log.LogInformation("Host {Name} ({Host}) registered with {Count} VMs and {Outcomes} outcomes, accelerator {Accel}",
            registration.Name, registration.HostId, registration.Vms.Count, registration.Outcomes?.Count ?? 0, registration.Accelerator);

        // Settings first: a command resent below may be a start that needs the host's leave to run unconfined.
        await Clients.Caller.ApplyHostSettings(await settings.SettingsOfAsync(registration.HostId));
        foreach (var arrival in arrivals)
        {
            // Before any command is resent: a VM started again may need what an arrival sends (its networks).
            await arrival.ArrivedAsync(registration.HostId, Clients.Caller);
        }

        foreach (var report in registration.Vms)
        {
            await reports.ObserveAsync(registration.HostId, report);
        }

        await dispatcher.HostReturnedAsync(registration.HostId);
        hostNotifier.Publish(new HostsChanged());
        return new HostWelcome(true);
    }

    public Task ReportVm(VmReport report) => reports.ObserveAsync(CurrentHost(), AgentInput.Check(report));

    public async Task ReportUsage(HostUsage usage)
    {
        var hostId = CurrentHost();
        AgentInput.Check(usage);
        await using var session = store.LightweightSession();
        var previous = await session.LoadAsync<HostUsageReport>(hostId);
        // A next part adds its VMs to the report its first part began; one of a report already superseded is dropped.
        if (usage.Part > 0 && (previous is null || previous.At != usage.At))
        {
            return;
        }

        // A host speaks only for its own VMs: what it says of another's QEMU is not kept (the Isolation page shows it).
        var own = await reports.OwnVmsAsync(session, hostId, [.. usage.Vms.Select(v => v.VmId).Distinct()]);
        var vms = usage.Vms.Where(v => own.Contains(v.VmId));
        if (usage.Part > 0)
        {
            previous!.Vms = [.. previous.Vms, .. vms];
            session.Store(previous);
        }
        else
        {
            session.Store(FirstPart(hostId, usage, vms, previous, (await session.LoadAsync<HostRecord>(hostId))?.LogicalCpus ?? 1));
        }

        await session.SaveChangesAsync();
        if (usage.Part == usage.Parts - 1)
        {
            usageNotifier.Publish(new HostUsageChanged(hostId));
        }
    }

    /// <summary>A report's first part: the host's figures, its CPU use since the last report, and the first VMs.</summary>
    private static HostUsageReport FirstPart(Guid hostId, HostUsage usage, IEnumerable<VmUsage> vms, HostUsageReport? previous, int cpus)
    {
        var seconds = previous is null ? 0 : (usage.At - previous.At).TotalSeconds;
        // Between two reports; a VM that ended meanwhile may make the difference negative, a host's wild figures infinite.
        var percent = seconds > 0 ? Math.Max(0, (usage.CpuSeconds - previous!.CpuSeconds) / seconds / Math.Max(1, cpus) * 100) : 0;
        return new HostUsageReport
        {
            Id = hostId,
            RssBytes = usage.RssBytes,
            CpuSeconds = usage.CpuSeconds,
            CpuPercent = double.IsFinite(percent) ? percent : 0,
            Ksm = usage.Ksm,
            ManagesKsm = usage.ManagesKsm,
            KsmProblem = usage.KsmProblem,
            DiskFreeBytes = usage.DiskFreeBytes,
            Health = usage.Health,
            Vms = [.. vms],
            At = usage.At,
        };
    }

    public async Task ReportOperation(OperationReport report)
    {
        await reports.CompleteAsync(CurrentHost(), AgentInput.Check(report));
        dispatcher.Wake();
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        if (connections.Disconnected(Context.ConnectionId) is { } hostId)
        {
            await HostLeftAsync(hostId);
        }

        await base.OnDisconnectedAsync(exception);
    }

    /// <summary>The host's connection ended: it is away from now, unless it has come back on another.</summary>
    private async Task HostLeftAsync(Guid hostId)
    {
        await using (var session = store.LightweightSession())
        {
            // Only if the host has not come back on a new connection meanwhile (version-checked).
            if (await session.LoadAsync<HostRecord>(hostId) is { } host && host.ConnectionId == Context.ConnectionId)
            {
                host.Connected = false;
                host.LastSeenAt = clock.GetUtcNow();
                session.Store(host);
                // Away from now: the grace runs from the goodbye, not from the last renewal.
                HostLease.Renew(session, [hostId], host.LastSeenAt, options.Value.HostGrace);
                try
                {
                    await session.SaveChangesAsync();
                }
                catch (JasperFx.ConcurrencyException)
                {
                    // It registered again just now: it is connected.
                }
            }
        }

        hostNotifier.Publish(new HostsChanged());
        await reports.HostLeftAsync(hostId);
        dispatcher.Wake();
    }

    private Guid CurrentHost() =>
        Context.Items.TryGetValue(HostIdKey, out var id) && id is Guid hostId
            ? hostId
            : throw new HubException("Register first.");
}
