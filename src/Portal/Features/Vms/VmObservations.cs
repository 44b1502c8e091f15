using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Templates;

namespace Paddock.Portal.Features.Vms;

/// <summary>Turns what agents report into the VMs' history: the portal reconciles what it believed with what it is told.</summary>
public sealed class VmObservations(
    IDocumentStore store, ChangeNotifier<VmChanged> notifier, ChangeNotifier<TemplateChanged> templateChanges, MigrationBoard migrations,
    ChangeNotifier<WorkReported> work, TimeProvider clock, ILogger<VmObservations> log)
    : IAgentReports
{
    public async Task ObserveAsync(Guid hostId, VmReport report, CancellationToken ct = default)
    {
        // A person's operation may land on the same stream meanwhile: then read again and re-decide.
        await ConcurrencyRetry.RunAsync(async () =>
        {
            await using var session = store.LightweightSession();
            var stream = await session.Events.FetchForWriting<Vm>(report.VmId, ct);
            var vm = stream.Aggregate;
            if (vm is null || vm.HostId != hostId)
            {
                log.LogWarning("Host {Host} reported VM {Vm}, which the portal does not place there", hostId, report.VmId);
                return;
            }

            if (VmRules.Superseded(vm, report.ObservedAt))
            {
                log.LogInformation("VM {Vm}: a report of {State} made before the one shown arrived late; not applied", vm.Id, report.State);
                return;
            }

            // A disagreement is raised once; it stays until an admin resolves it, and is raised again
            // by the next report that still disagrees.
            var disagreement = VmIsolationCheck.Disagreement(vm.Label, vm.Uid, report);
            var alert = disagreement is not null && vm.IsolationAlert is null;
            if (VmRules.StatusAfterObservation(vm, report.State) == vm.Status && report.Detail == vm.StatusDetail && report.SavedBytes == vm.SavedBytes
                && (report.Limits is null || report.Limits == vm.LimitsNote) && !alert && SamePorts(report.Ports, vm.DevicePorts))
            {
                return;
            }

            stream.AppendOne(new VmStatusObserved(report.State, report.Detail, report.ObservedAt, report.SavedBytes, report.Limits, report.Ports));
            if (alert)
            {
                stream.AppendOne(new VmIsolationMismatch(disagreement!, clock.GetUtcNow()));
                session.Insert(new AuditEntry
                {
                    Id = Guid.NewGuid(),
                    At = clock.GetUtcNow(),
                    Kind = AuditKind.IsolationAlert,
                    Actor = "host",
                    VmId = vm.Id,
                    What = $"'{vm.Name}' is held: {disagreement}",
                });
                log.LogWarning("VM {Vm} is held: its host's record disagrees with the portal's: {Disagreement}", vm.Id, disagreement);
            }

            await session.SaveChangesAsync(ct);
            notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
        });
    }

    public async Task HostLeftAsync(Guid hostId, CancellationToken ct = default)
    {
        IReadOnlyList<AgentCommand> cut;
        await using (var query = store.QuerySession())
        {
            // Not FinishMigration: the guest may run there already, and only the host can say (it is asked again when it returns).
            cut = await query.Query<AgentCommand>()
                .Where(c => c.HostId == hostId && c.MigrationId != null && c.State == AgentCommandState.Sent
                    && (c.Command.Verb == VmVerb.MigrateOut || c.Command.Verb == VmVerb.MigrateIn))
                .ToListAsync(ct);
        }

        foreach (var command in cut)
        {
            log.LogWarning("Host {Host} went away during {Verb} of VM {Vm}: the migration fails", hostId, command.Command.Verb, command.VmId);
            await CompleteAsync(hostId, new OperationReport(command.Id, command.VmId, OperationState.Failed, "its host's agent went away mid-way"), ct);
        }
    }

    public async Task<IReadOnlySet<Guid>> OwnVmsAsync(IQuerySession session, Guid hostId, IReadOnlyCollection<Guid> vmIds, CancellationToken ct = default) =>
        (await session.LoadManyAsync<Vm>(ct, vmIds)).Where(v => v.HostId == hostId).Select(v => v.Id).ToHashSet();

    public async Task CompleteAsync(Guid hostId, OperationReport report, CancellationToken ct = default)
    {
        if (report.State == OperationState.Running)
        {
            await ProgressAsync(hostId, report, ct);
            return;
        }

        // A person's operation may land on the same stream meanwhile: then read again and re-decide.
        await ConcurrencyRetry.RunAsync(async () =>
        {
            await using var session = store.LightweightSession();
            var command = await session.LoadAsync<AgentCommand>(report.OperationId, ct);
            if (command is null || command.HostId != hostId || command.Finished)
            {
                // A resent command's outcome arrives twice; the first one counted.
                return;
            }

            var succeeded = report.State == OperationState.Succeeded;
            command.State = succeeded ? AgentCommandState.Succeeded : AgentCommandState.Failed;
            command.Outcome = report.Message;
            // What was typed (a password, maybe) is kept no longer than it takes to type it.
            command.Command = command.Command with { Text = command.Command.Text is null ? null : "" };
            session.Store(command);
            var template = command.TemplateId is { } templateId ? await session.LoadAsync<VmTemplate>(templateId, ct) : null;
            if (template is not null)
            {
                TemplateOutcome(session, template, command, succeeded, report);
            }

            var stream = await session.Events.FetchForWriting<Vm>(command.VmId, ct);
            var now = clock.GetUtcNow();
            if (command.MigrationId is not null)
            {
                // A step of a migration: it moves the migration on, it is no task of its own.
                var next = VmMigrations.Next(stream.Aggregate, command, report, now);
                stream.AppendMany(next.Events);
                session.Insert([.. next.Commands]);
                migrations.Forget(command.VmId);
            }
            else if (stream.Aggregate is { } vm)
            {
                stream.AppendOne(new VmOperationCompleted(command.Id, command.Command.Verb, succeeded, report.Message, now, report.Result));
                if (succeeded)
                {
                    stream.AppendMany(SuccessEvents(command, vm, now, report.Result));
                }

                await ReleaseAddressesAsync(session, command, vm, succeeded, ct);

                if (report.Tampering)
                {
                    session.Insert(TamperingEntry(vm, $"{command.Command.Verb} refused by its host", report.Message, now));
                    log.LogWarning("VM {Vm}: its host refused {Verb}: {Reason}", vm.Id, command.Command.Verb, report.Message);
                }
            }

            await session.SaveChangesAsync(ct);
            if (command.MigrationId is null)
            {
                PortalMetrics.OperationEnded(command.Command.Verb.ToString(), succeeded, now - command.CreatedAt);
            }

            if (template is not null)
            {
                templateChanges.Publish(new TemplateChanged(template.Id));
            }

            if (stream.Aggregate is { } changed)
            {
                notifier.Publish(new VmChanged(changed.Id, changed.OwnerId));
            }
        });
    }

    /// <summary>A migration's progress, from the host that runs its step: shown live, never stored.</summary>
    /// <summary>A running operation's progress: a migration's to its board, other work to every portal process's <see cref="WorkBoard"/>.</summary>
    private async Task ProgressAsync(Guid hostId, OperationReport report, CancellationToken ct)
    {
        if (report.Result is not ({ Progress: not null } or { Work: not null }))
        {
            return;
        }

        await using var query = store.QuerySession();
        if (await query.LoadAsync<AgentCommand>(report.OperationId, ct) is not { Finished: false } command || command.HostId != hostId)
        {
            return;
        }

        if (report.Result.Progress is { } progress && command.MigrationId is { } migrationId)
        {
            migrations.Report(command.VmId, migrationId, progress);
        }

        if (report.Result.Work is { } done)
        {
            work.Publish(new WorkReported(command.VmId, command.Id, done.Done, done.Total, done.Unit, clock.GetUtcNow()));
        }
    }

    /// <summary>Frees the network addresses of the NICs a command took away: all of them with the VM, the removed NIC's, or the one a failed hotplug held.</summary>
    private static Task ReleaseAddressesAsync(IDocumentSession session, AgentCommand command, Vm vm, bool succeeded, CancellationToken ct) => command.Command switch
    {
        { Verb: VmVerb.Delete } or { Verb: VmVerb.ConvertToTemplate } when succeeded && (command.Command.Verb == VmVerb.Delete || command.TemplateId is not null) =>
            Networks.NetworkService.KeepOnlyAsync(session, vm.Id, [], ct),
        { Verb: VmVerb.ChangeHardware, Spec: { } spec } =>
            Networks.NetworkService.KeepOnlyAsync(session, vm.Id, [.. (succeeded ? spec : VmService.SpecOf(vm)).Nics.Select(n => n.Id)], ct),
        _ => Task.CompletedTask,
    };

    /// <summary>What a command that succeeded changed in the VM, beside its completion.</summary>
    private static IEnumerable<object> SuccessEvents(AgentCommand command, Vm vm, DateTimeOffset now, OperationResult? result)
    {
        if (SnapshotEvent(command, vm, now, result) is { } snapshotEvent)
        {
            yield return snapshotEvent;
        }

        if (command.Command.Verb == VmVerb.Delete)
        {
            yield return new VmDeleted(command.Id, now);
        }

        if (command.Command is { Verb: VmVerb.ChangeHardware, Spec: { } hardware })
        {
            yield return new VmHardwareChanged(
                hardware.VCpus,
                hardware.Disks[0].SizeBytes,
                [.. hardware.Disks.Skip(1).Select(d => new VmDisk(d.Id, d.SizeBytes))],
                [.. hardware.Nics.Skip(1).Select(n => new VmNic(n.Id, n.Mac, n.Network))],
                command.Id,
                now,
                hardware.BalloonTargetMiB);
        }

        if (command.Command.Verb == VmVerb.ChangeMedium)
        {
            yield return new VmMediumChanged(command.Command.Image, command.DisplayName, command.Id, now);
        }

        if (command.Command.Verb == VmVerb.ConvertToTemplate && command.TemplateId is { } becameTemplate)
        {
            yield return new VmConvertedToTemplate(becameTemplate, command.Id, now);
        }
    }

    /// <summary>What a finished snapshot task changed in the VM's list of snapshots.</summary>
    private static object? SnapshotEvent(AgentCommand command, Vm vm, DateTimeOffset now, OperationResult? result) => (command.Command.Verb, command.Command.Snapshot) switch
    {
        (VmVerb.Snapshot, { } name) => new VmSnapshotTaken(name, vm.LastObserved is VmPowerState.Running or VmPowerState.Paused, command.Id, now, result?.StateBytes, result?.Quiesced == true),
        (VmVerb.RevertSnapshot, { } name) => new VmSnapshotReverted(name, command.Id, now),
        (VmVerb.DeleteSnapshot, { } name) => new VmSnapshotDeleted(name, command.Id, now),
        _ => null,
    };

    /// <summary>
    /// A conversion that worked makes the template ready with its image's name, size and checksum;
    /// one that failed leaves the VM as it was and no template.
    /// </summary>
    private static void TemplateOutcome(IDocumentSession session, VmTemplate template, AgentCommand command, bool succeeded, OperationReport report)
    {
        template.PendingOperation = null;
        switch (command.Command.Verb, succeeded)
        {
            case (VmVerb.ConvertToTemplate, true) when report.Result?.Sha256 is { } sha256:
                template.State = TemplateState.Ready;
                template.Image = $"{sha256}.qcow2";
                template.ImageBytes = report.Result?.DiskBytes;
                template.Sha256 = report.Result?.Sha256;
                session.Store(template);
                break;
            default:
                session.Delete(template);
                break;
        }
    }

    /// <summary>
    /// An audit entry for a refusal at the agent's wall against something the VM's uid controls
    /// (a planted link, a socket another process serves, a disk header naming a foreign file).
    /// </summary>
    public static AuditEntry TamperingEntry(Vm vm, string what, string? reason, DateTimeOffset at) => new()
    {
        Id = Guid.NewGuid(),
        At = at,
        Kind = AuditKind.IsolationAlert,
        Actor = "host",
        VmId = vm.Id,
        What = $"'{vm.Name}': {what}: {reason}",
    };

    /// <summary>Whether the host reports the root ports the portal has (a report without any changes nothing).</summary>
    private static bool SamePorts(IReadOnlyDictionary<string, string>? reported, Dictionary<string, string>? known) =>
        reported is not { Count: > 0 } || known is not null && reported.Count == known.Count && reported.All(p => known.TryGetValue(p.Key, out var port) && port == p.Value);
}
