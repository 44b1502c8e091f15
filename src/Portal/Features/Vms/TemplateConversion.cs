using System.Security.Claims;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Templates;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// Turns a stopped VM into a template: its agent flattens the disk into a read-only image, hands it
/// to the library and removes the VM; <see cref="VmObservations"/> takes the outcome. Here rather
/// than in Templates, as it is the VM that changes, and Templates stands below Vms.
/// </summary>
public sealed class TemplateConversion(
    IDocumentStore store,
    CommandDispatcher dispatcher,
    UploadReservations storage,
    ChangeNotifier<VmChanged> vmChanges,
    ChangeNotifier<TemplateChanged> changes,
    TimeProvider clock)
{
    /// <summary>Converts the caller's stopped VM; the template is private to the VM's owner until an admin publishes it.</summary>
    public async Task<Guid> ConvertAsync(ClaimsPrincipal user, Guid vmId, string name, string? description, CancellationToken ct = default)
    {
        TemplateService.Check(TemplateRules.ValidateName(name), "name");
        TemplateService.Check(TemplateRules.ValidateDescription(description), "description");
        await using var session = store.LightweightSession();
        var stream = await VmRights.FetchForWritingAsync(session, vmId, ct);
        var vm = await VmRights.DemandAsync(session, user, stream.Aggregate, VmAction.ConvertToTemplate, ct);

        if (VmRules.Refusal(vm, VmVerb.ConvertToTemplate) is { } refusal)
        {
            throw new RefusedException(refusal);
        }

        // The template's image takes its owner's image storage: the disk's size is what it may take at
        // most, held while it converts; the agent measures before it writes and stops at what is left.
        var standing = await storage.StandingAsync(session, vm.OwnerId, ct);
        if (!standing.Fits(vm.DiskBytes))
        {
            throw new TemplateRequestException(standing.Refusal(vm.DiskBytes, "a template of this VM's disk"));
        }

        var now = clock.GetUtcNow();
        var id = Guid.NewGuid();
        var operation = Guid.NewGuid();
        var template = new VmTemplate
        {
            Id = id,
            Name = name.Trim(),
            Description = description?.Trim() ?? "",
            OwnerId = vm.OwnerId,
            Visibility = Sharing.Private,
            VCpus = vm.VCpus,
            MemoryMiB = vm.MemoryMiB,
            DiskBytes = vm.DiskBytes,
            HostId = vm.HostId,
            State = TemplateState.Converting,
            SourceVmId = vm.Id,
            // Its guest still reads cloud-init and runs the guest agent: VMs made from it do too.
            CloudInit = vm.CloudInit is not null,
            GuestAgent = vm.GuestAgent,
            PendingOperation = operation,
            CreatedAt = now,
        };
        session.Insert(template);
        stream.AppendOne(new VmOperationRequested(operation, VmVerb.ConvertToTemplate, user.UserId(), now));
        session.Insert(new AgentCommand
        {
            Id = operation,
            VmId = vm.Id,
            HostId = vm.HostId,
            TemplateId = id,
            Command = new VmCommand(operation, vm.Id, VmVerb.ConvertToTemplate, MaxBytes: standing.Left),
            State = AgentCommandState.Pending,
            CreatedAt = now,
            TraceParent = PortalTracing.Current,
        });
        await TemplateService.SaveAsync(session, ct);
        dispatcher.Wake();
        vmChanges.Publish(new VmChanged(vm.Id, vm.OwnerId));
        changes.Publish(new TemplateChanged(id));
        return id;
    }
}
