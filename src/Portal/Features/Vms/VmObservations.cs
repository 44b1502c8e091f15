using Marten;
using JasperFx;
using Marten.Exceptions;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Admin;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Templates;

namespace Paddock.Portal.Features.Vms;

/// <summary>Turns what agents report into the VMs' history: the portal reconciles what it believed with what it is told.</summary>
public sealed class VmObservations(
    IDocumentStore store, ChangeNotifier<VmChanged> notifier, ChangeNotifier<TemplateChanged> templateChanges, TimeProvider clock, ILogger<VmObservations> log)
{
    public async Task ObserveAsync(Guid hostId, VmReport report, CancellationToken ct = default)
    {
        await RetryOnConflict(async () =>
        {
            await using var session = store.LightweightSession();
            var stream = await session.Events.FetchForWriting<Vm>(report.VmId, ct);
            var vm = stream.Aggregate;
            if (vm is null || vm.HostId != hostId)
            {
                log.LogWarning("Host {Host} reported VM {Vm}, which the portal does not place there", hostId, report.VmId);
                return;
            }

            // A disagreement is raised once; it stays until an admin resolves it, and is raised again
            // by the next report that still disagrees.
            var disagreement = VmIsolationCheck.Disagreement(vm.Label, vm.Uid, report);
            var alert = disagreement is not null && vm.IsolationAlert is null;
            if (VmRules.StatusAfterObservation(vm, report.State) == vm.Status && report.Detail == vm.StatusDetail && report.SavedBytes == vm.SavedBytes
                && (report.Limits is null || report.Limits == vm.LimitsNote) && !alert)
            {
                return;
            }

            stream.AppendOne(new VmStatusObserved(report.State, report.Detail, report.ObservedAt, report.SavedBytes, report.Limits));
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

    public async Task CompleteAsync(Guid hostId, OperationReport report, CancellationToken ct = default)
    {
        if (report.State == OperationState.Running)
        {
            return;
        }

        await RetryOnConflict(async () =>
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
            session.Store(command);
            var template = command.TemplateId is { } templateId ? await session.LoadAsync<VmTemplate>(templateId, ct) : null;
            if (template is not null)
            {
                TemplateOutcome(session, template, command, succeeded, report);
            }

            var stream = await session.Events.FetchForWriting<Vm>(command.VmId, ct);
            var now = clock.GetUtcNow();
            if (stream.Aggregate is { } vm)
            {
                stream.AppendOne(new VmOperationCompleted(command.Id, command.Command.Verb, succeeded, report.Message, now, report.Result));
                if (succeeded && SnapshotEvent(command, vm, now, report.Result) is { } snapshotEvent)
                {
                    stream.AppendOne(snapshotEvent);
                }

                if (succeeded && command.Command.Verb == VmVerb.Delete)
                {
                    stream.AppendOne(new VmDeleted(command.Id, now));
                }

                if (succeeded && command.Command is { Verb: VmVerb.ChangeHardware, Spec: { } hardware })
                {
                    stream.AppendOne(new VmHardwareChanged(
                        hardware.VCpus,
                        hardware.Disks[0].SizeBytes,
                        [.. hardware.Disks.Skip(1).Select(d => new VmDisk(d.Id, d.SizeBytes))],
                        [.. hardware.Nics.Skip(1).Select(n => new VmNic(n.Id, n.Mac))],
                        command.Id,
                        now,
                        hardware.BalloonTargetMiB));
                }

                if (succeeded && command.Command.Verb == VmVerb.ChangeMedium)
                {
                    stream.AppendOne(new VmMediumChanged(command.Command.Image, command.DisplayName, command.Id, now));
                }

                if (succeeded && command.Command.Verb == VmVerb.ConvertToTemplate && command.TemplateId is { } becameTemplate)
                {
                    stream.AppendOne(new VmConvertedToTemplate(becameTemplate, command.Id, now));
                }
            }

            await session.SaveChangesAsync(ct);
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

    /// <summary>What a finished snapshot task changed in the VM's list of snapshots.</summary>
    private static object? SnapshotEvent(AgentCommand command, Vm vm, DateTimeOffset now, OperationResult? result) => (command.Command.Verb, command.Command.Snapshot) switch
    {
        (VmVerb.Snapshot, { } name) => new VmSnapshotTaken(name, vm.LastObserved is VmPowerState.Running or VmPowerState.Paused, command.Id, now, result?.StateBytes),
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

    private static async Task RetryOnConflict(Func<Task> work)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await work();
                return;
            }
            catch (ConcurrencyException) when (attempt < 5)
            {
                // A person's request landed on the same stream meanwhile; read again and re-decide.
            }
        }
    }
}
