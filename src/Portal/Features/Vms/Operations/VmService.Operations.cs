using System.Security.Claims;
using JasperFx;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms.Operations;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// The handlers of <see cref="VmOperation"/>s, in Marten's command-handler style: fetch the VM's
/// stream for writing (behind the rights wall), decide with a pure <see cref="VmDecide"/> function,
/// admit what the VM grows by, append, save, then tell the agent.
/// </summary>
public sealed partial class VmService
{
    /// <summary>
    /// Carries out <paramref name="operation"/> on the caller's VM; refuses with the reason when the
    /// VM's status does not allow it. Returns the operation's id: its task's.
    /// </summary>
    public async Task<Guid> RunAsync(ClaimsPrincipal user, VmOperation operation, CancellationToken ct = default)
    {
        if (VmDecide.Invalid(operation) is { } invalid)
        {
            throw invalid;
        }

        using var span = PortalTracing.Operation(operation.Verb.ToString(), operation.VmId);

        return await (operation switch
        {
            SimpleOperation simple => HandleAsync(user, simple, async (session, vm, stamp) =>
                VmDecide.Simple(vm, simple, stamp, simple.Verb is VmVerb.Start or VmVerb.Restore ? await UnconfinedRefusalAsync(session, vm.HostId, ct) : null), ct),
            SendKeys keys => HandleAsync(user, keys, (_, vm, stamp) => Task.FromResult(VmDecide.Keys(vm, keys, stamp)), ct),
            TypeText typing => HandleAsync(user, typing, (_, vm, stamp) => Task.FromResult(VmDecide.Typing(vm, typing, stamp)), ct),
            SetGuestPassword password => HandleAsync(user, password, (_, vm, stamp) => Task.FromResult(VmDecide.GuestPassword(vm, password, stamp)), ct),
            ConfigureGuest guest => HandleAsync(user, guest, async (session, vm, stamp) => VmDecide.Guest(vm, guest, stamp,
                await SshKeys.SshKeyService.PublicKeysAsync(session, user, guest.Setup.SshKeyIds ?? [], GuestSetup.FieldOf("sshKeyIds"), ct)), ct),
            SnapshotOperation snapshot => HandleAsync(user, snapshot, (_, vm, stamp) => Task.FromResult(VmDecide.Snapshot(vm, snapshot, stamp)), ct),
            ChangeMedium medium => ChangeMediumAsync(user, medium, ct),
            ChangeHardware hardware => ChangeHardwareAsync(user, hardware, ct),
            ConfigureVm configure => HandleAsync(user, configure, (_, vm, stamp) => Task.FromResult(VmDecide.Settings(vm, configure, stamp)), ct),
            _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "No handler for this operation."),
        });
    }

    private async Task<Guid> ChangeMediumAsync(ClaimsPrincipal user, ChangeMedium operation, CancellationToken ct)
    {
        LibraryImage? image = null;
        if (operation.ImageId is { } id)
        {
            await using var session = store.QuerySession();
            image = await ImageService.FindAsync(session, user, id, ct);
            if (image is not { Kind: Paddock.Engine.Images.ImageKind.Iso })
            {
                throw new RefusedException("CD: no such ISO image.", "image");
            }
        }

        return await HandleAsync(user, operation, (_, vm, stamp) => Task.FromResult(VmDecide.Medium(vm, operation, stamp, image)), ct);
    }

    /// <summary>
    /// Ballooning takes memory from a guest for the host's sake: the admins' lever. A change that
    /// lost a race is not decided again on the newer VM: the person looks again, as the change was
    /// chosen for the VM they saw.
    /// </summary>
    private Task<Guid> ChangeHardwareAsync(ClaimsPrincipal user, ChangeHardware operation, CancellationToken ct) =>
        HandleAsync(user, operation, async (session, vm, stamp) =>
            {
                var decision = VmDecide.Hardware(vm, operation, stamp);
                return operation.Change.Action == HardwareAction.AddNic ? await OnNetworkAsync(session, user, vm, decision, operation.Change, ct) : decision;
            }, ct,
            operation.Change.Action == HardwareAction.SetBalloon ? VmAction.SetBalloon : VmAction.ChangeHardware, retry: false);

    /// <summary>An added NIC (the spec's last) on the network asked for, with an address held for it from now on (freed if the hotplug fails).</summary>
    private async Task<VmDecision> OnNetworkAsync(IDocumentSession session, ClaimsPrincipal user, Vm vm, VmDecision decision, HardwareChange change, CancellationToken ct)
    {
        var spec = decision.Command.Spec!;
        var nic = spec.Nics[^1];
        if (!change.Isolated && (await session.LoadAsync<Hosts.HostRecord>(vm.HostId, ct))?.Vxlan is null)
        {
            throw new RefusedException("Network: the VM's host carries no tenant networks (its agent does not run as root); choose Isolated (internet only).", "network");
        }

        var placed = await networks.AttachAsync(session, user, vm.OwnerId, vm.Id, vm.Name, [new Networks.NicPlacement(nic.Id, nic.Mac, new(change.NetworkId, change.Isolated))], ct);
        return decision with { Command = decision.Command with { Spec = spec with { Nics = [.. spec.Nics.SkipLast(1), nic with { Network = placed[0] }] } } };
    }

    /// <summary>
    /// Load, decide, admit, append, save. A conflict at save (often the agent's report of what the VM
    /// does) reads the VM again and decides again, unless <paramref name="retry"/> is false. Returns
    /// the id of the operation that was saved.
    /// </summary>
    private async Task<Guid> HandleAsync(
        ClaimsPrincipal user, VmOperation operation, Func<IDocumentSession, Vm, OperationStamp, Task<VmDecision>> decide, CancellationToken ct,
        VmAction? action = null, bool retry = true)
    {
        Vm? decided = null;
        var operationId = Guid.Empty;
        async Task AttemptAsync()
        {
            await using var session = store.LightweightSession();
            var stream = await VmRights.FetchForWritingAsync(session, operation.VmId, ct);
            var vm = await VmRights.DemandAsync(session, user, stream.Aggregate, action ?? VmRights.ActionOf(operation.Verb), ct);
            var stamp = new OperationStamp(Guid.NewGuid(), user.UserId(), clock.GetUtcNow());
            var decision = await decide(session, vm, stamp);
            if (decision.Growth != QuotaUsage.Zero)
            {
                await AdmitGrowthAsync(session, user, vm, decision.Growth, ct);
            }

            stream.AppendMany(decision.Events);
            audit.Add(session, user, AuditKind.VmOperation, decision.Audit, vm.Id);
            var command = NewCommand(stamp.OperationId, vm.Id, vm.HostId, decision.Command, stamp.At);
            command.DisplayName = decision.DisplayName;
            session.Insert(command);
            await session.SaveChangesAsync(ct);
            decided = vm;
            operationId = stamp.OperationId;
        }

        // A burst (a hundred deletes at once) waits here, holding no pooled connection, so that the
        // agents' reports and the pages still get one: a full pool would cut the hosts off.
        await _operations.WaitAsync(ct);
        try
        {
            await (retry ? ConcurrencyRetry.RunAsync(AttemptAsync) : AttemptAsync());
        }
        catch (ConcurrencyException)
        {
            throw new RefusedException(retry ? "The VM changed meanwhile; look at its status and try again." : "The VM changed meanwhile; look at it and try again.");
        }
        finally
        {
            _operations.Release();
        }

        dispatcher.Wake();
        notifier.Publish(new VmChanged(decided!.Id, decided.OwnerId));
        return operationId;
    }
}
