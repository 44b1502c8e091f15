using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using JasperFx;
using Marten.Exceptions;
using Microsoft.Extensions.Options;
using Npgsql;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Flavors;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Networks;
using static Paddock.Portal.Shared.VmSizes;


namespace Paddock.Portal.Features.Vms;

/// <summary>Creating a VM: admitting it against quotas and hosts, and defining it in one transaction.</summary>
public sealed partial class VmService
{
    /// <summary>A linked clone of a template the caller may see: a qcow2 overlay on the template's image, on the template's host.</summary>
    /// <remarks>
    /// A create that needs an admin's approval (a flavor or template marked so, a lease beyond the
    /// maximum) is refused with <see cref="ApprovalNeededException"/>; one over quota with
    /// <see cref="Quotas.QuotaExceededException"/>. Either can be submitted as a request instead.
    /// </remarks>
    public async Task<Guid> CreateAsync(ClaimsPrincipal user, NewVm newVm, CancellationToken ct = default) =>
        (await CreateAsync(user, newVm, idempotencyKey: null, ct)).Id;

    /// <summary>
    /// The same, with the client's <c>Idempotency-Key</c> (see <see cref="CreateKeys"/>): a key this
    /// user sent before within a day answers with the VM it made (<c>Replayed</c>), whatever the body.
    /// </summary>
    public async Task<(Guid Id, bool Replayed)> CreateAsync(ClaimsPrincipal user, NewVm newVm, string? idempotencyKey, CancellationToken ct)
    {
        using var span = PortalTracing.Operation("Create", vmId: null);
        try
        {
            return await AdmitAsync(user, newVm, idempotencyKey, ct);
        }
        catch (RefusedException e)
        {
            PortalMetrics.AdmissionRefused(e switch
            {
                QuotaExceededException => "quota",
                NoHostException => "no-host",
                ApprovalNeededException => "needs-approval",
                { Field: not null } => "invalid",
                _ => "refused",
            });
            throw;
        }
    }

    private async Task<(Guid Id, bool Replayed)> AdmitAsync(ClaimsPrincipal user, NewVm newVm, string? idempotencyKey, CancellationToken ct)
    {
        var key = idempotencyKey is null ? null : CreateKeys.Of(user.UserId(), idempotencyKey);
        if (key is not null && await ReplayAsync(key, ct) is { } earlier)
        {
            return (earlier, true);
        }

        var plan = await PlanAsync(user, newVm, ct);
        if (plan.NeedsApproval.Count > 0 && !user.IsAdmin())
        {
            throw new ApprovalNeededException(plan.NeedsApproval);
        }

        try
        {
            return (await DefineAsync(new VmCreation(user, user.UserId(), plan.Definition)
            {
                AlsoInTransaction = key is null ? null : (session, vmId) =>
                {
                    CreateKeys.Keep(session, user.UserId(), key, vmId, clock.GetUtcNow());
                    return Task.CompletedTask;
                },
            }, ct), false);
        }
        catch (Exception e) when (key is not null && e is CreateKeyTakenException or RefusedException)
        {
            // A create with the same key won the race (its VM took the name first, or the key): its VM is the answer.
            if (await ReplayAsync(key, ct) is { } made)
            {
                return (made, true);
            }

            if (e is CreateKeyTakenException)
            {
                throw new RefusedException("Another create with this Idempotency-Key is under way; try again.");
            }

            throw;
        }
    }

    private async Task<Guid?> ReplayAsync(string key, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return await CreateKeys.FindAsync(session, key, clock.GetUtcNow(), ct);
    }

    /// <summary>
    /// A full copy of the caller's stopped VM with a new identity: id, name, MAC address, label and
    /// uid. It lands on the source's host (the disks are there) and stays stopped.
    /// </summary>
    public async Task<Guid> CloneAsync(ClaimsPrincipal user, Guid sourceId, string name, CancellationToken ct = default)
    {
        Check(ValidateName(name), "name");
        Vm source;
        await using (var session = store.QuerySession())
        {
            source = await VmRights.LoadAsync(session, user, sourceId, VmAction.Clone, ct);
        }

        if (source.Status is not VmStatus.Stopped || source.PendingVerb is not null)
        {
            throw new RefusedException($"Clone needs the VM Stopped; it is {VmRules.Describe(source.Status)}.");
        }

        var definition = new VmDefinition(name.Trim(), source.TemplateName, source.BaseImage, source.VCpus, source.MemoryMiB, source.DiskBytes)
        {
            // The copy's NICs go on the networks the source's are on, each with an address of its own.
            Nics = [NicChoice.Of(source.Network), .. source.ExtraNics.Select(n => NicChoice.Of(n.Network))],
        };
        return await DefineAsync(new VmCreation(user, user.UserId(), definition, source), ct);
    }

    /// <summary>
    /// Creates the VM of <paramref name="creation"/> in one transaction with its quota admission and
    /// whatever the caller records with it (<see cref="VmCreation.AlsoInTransaction"/>), such as a
    /// request's approval.
    /// </summary>
    public async Task<Guid> DefineAsync(VmCreation creation, CancellationToken ct)
    {
        // Creates wait for the database's locks one after the other anyway; the ones beyond a few wait
        // here, holding no pooled connection, so that pages and agents' reports still get one.
        await _creates.WaitAsync(ct);
        try
        {
            return await DefineOnceAsync(creation, ct);
        }
        finally
        {
            _creates.Release();
        }
    }

    /// <summary>How many creates of this process may be inside the database at once.</summary>
    public const int ConcurrentCreates = 8;

    private readonly SemaphoreSlim _creates = new(ConcurrentCreates);

    /// <summary>How many operations on VMs (a start, a delete) this process may have inside the database at once.</summary>
    public const int ConcurrentOperations = 16;

    private readonly SemaphoreSlim _operations = new(ConcurrentOperations);

    /// <summary>The service lives as long as the portal; the container disposes it at shutdown.</summary>
    public void Dispose()
    {
        _creates.Dispose();
        _operations.Dispose();
    }

    private async Task<Guid> DefineOnceAsync(VmCreation creation, CancellationToken ct)
    {
        // A collision with a concurrent create (the same quota ledger or template, or the same label
        // drawn) is decided again from fresh data; the database, not this process, decides who won.
        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            Guid vmId;
            try
            {
                // The locks are taken and the host booked before the save: a race lost there is one too.
                var placement = await AdmitCreateAsync(session, creation, ct);
                vmId = await RecordCreateAsync(session, creation, placement, ct);
                if (creation.AlsoInTransaction is { } also)
                {
                    await also(session, vmId);
                }

                await session.SaveChangesAsync(ct);
            }
            catch (Exception e) when (Contended(e) && attempt < MaxAttempts)
            {
                // Spread the retries out so that a crowd of creates does not collide again in step.
                await Task.Delay(RandomNumberGenerator.GetInt32(1, 10 + (10 * attempt)), ct);
                continue;
            }
            catch (Exception e) when (Contended(e))
            {
                throw new RefusedException("Too many changes at the same moment; try again.");
            }
            catch (Exception e) when (StoreConflicts.UniqueViolation(e) is { } constraint)
            {
                if (constraint.Contains("create_key", StringComparison.Ordinal))
                {
                    throw new CreateKeyTakenException();
                }

                // A label drawn twice, or a default network two first VMs made at once: decide again.
                if ((constraint.Contains("label", StringComparison.Ordinal) || constraint.Contains("network", StringComparison.Ordinal)) && attempt < MaxAttempts)
                {
                    continue;
                }

                throw NameTaken(creation.Definition.Name);
            }

            dispatcher.Wake();
            notifier.Publish(new VmChanged(vmId, creation.Owner));
            return vmId;
        }
    }

    /// <summary>Draws the VM's identity and records it: its stream (created, placed, settings, the create asked for), the audit line and the agent's command.</summary>
    private async Task<Guid> RecordCreateAsync(IDocumentSession session, VmCreation creation, PlacementDecision placement, CancellationToken ct)
    {
        var (actor, d, cloneOf, cdrom) = (creation.Actor, creation.Definition, creation.CloneOf, creation.Definition.Cdrom);
        var hostId = placement.Chosen!.Id;
        var vmId = Guid.NewGuid();
        var labelIndex = await FreeLabelAsync(session, ct);
        var uid = IsolationLabels.UidFor(IsolationLabels.FromIndex(labelIndex), options.Value.VmUidBase);
        var now = clock.GetUtcNow();
        var nics = (d.Nics ?? [NicChoice.Default]).Select((choice, i) => new NicPlacement($"net{i}", RandomMac(), choice, NicChoice.FieldOf(i))).ToList();
        var attached = await networks.AttachAsync(session, actor, creation.Owner, vmId, d.Name, nics, ct);
        var created = new VmCreated(
            vmId, creation.Owner, d.Name, d.TemplateName, d.BaseImage, d.VCpus, d.MemoryMiB, d.DiskBytes,
            cloneOf?.MachineType ?? VmSpec.DefaultMachineType, hostId, labelIndex, uid, nics[0].Mac, actor.UserId(), now, cloneOf?.Id, d.TemplateId,
            cdrom?.Image ?? cloneOf?.Cdrom, cdrom?.Name ?? cloneOf?.CdromName, d.GroupId, d.FlavorId, d.FlavorName, now + d.Lease, creation.RequestId, d.Limits ?? cloneOf?.Limits,
            attached[0], [.. nics.Skip(1).Select((n, i) => new VmNic(n.NicId, n.Mac, attached[i + 1]))],
            d.CloudInit ?? cloneOf?.CloudInit, d.GuestAgent || cloneOf?.GuestAgent == true);
        // An installation boots from its CD first; a clone boots as its source did.
        var settings = cdrom is not null ? VmSettings.Default with { BootOrder = VmSettings.CdromFirst } : cloneOf?.Settings;
        var operation = Guid.NewGuid();
        var defined = Vm.Create(created);
        defined.Settings = settings ?? defined.Settings;
        var spec = SpecOf(defined);
        if (cloneOf is not null)
        {
            // The clone's disks are full copies: they need no base image.
            spec = spec with { Disks = [.. spec.Disks.Select(x => x with { BaseImage = null })] };
        }

        try
        {
            VmSpecValidator.Validate(spec);
        }
        catch (InvalidVmSpecException e)
        {
            throw new RefusedException(e.Message);
        }

        audit.Add(session, actor, AuditKind.VmOperation, cloneOf is null ? $"Create '{d.Name}' from {d.TemplateName}" : $"Clone '{cloneOf.Name}' as '{d.Name}'", vmId);
        var (passedOver, others) = placement.Kept();
        var placed = new VmPlaced(hostId, placement.Chosen.Name, passedOver, now, others);
        session.Events.StartStream<Vm>(vmId, settings is null
            ? [created, placed, new VmOperationRequested(operation, VmVerb.Create, actor.UserId(), now)]
            : [created, placed, new VmSettingsChanged(settings, actor.UserId(), now), new VmOperationRequested(operation, VmVerb.Create, actor.UserId(), now)]);
        session.Insert(NewCommand(operation, created.VmId, hostId,
            new VmCommand(operation, vmId, VmVerb.Create, spec, StartAfterCreate: cloneOf is null && d.Start, CloneFrom: cloneOf?.Id), now));
        return vmId;
    }

    private const int MaxAttempts = 40;

    /// <summary>Lost a race another transaction won: a version check, a deadlock or a serialization failure.</summary>
    /// <summary>
    /// A free pair, at random (libvirt's way): which of 16 random ones are taken is asked through the
    /// labels' unique index, not by reading every VM's. The unique index still decides a race for one.
    /// </summary>
    private static async Task<int> FreeLabelAsync(IDocumentSession session, CancellationToken ct)
    {
        var candidates = IsolationLabels.Candidates(16, RandomNumberGenerator.GetInt32);
        // The expression of the unique index uq_vm_label, so that the index answers.
        var taken = await session.AdvancedSql.QueryAsync<int>(
            $"select (data->>'LabelIndex')::integer from {session.DocumentStore.Options.DatabaseSchemaName}.mt_doc_vm where (data->>'LabelIndex')::integer = any(?)",
            ct, candidates.ToArray());
        return IsolationLabels.FirstFree(candidates, taken.ToHashSet())
            ?? IsolationLabels.PickFree(await session.Query<Vm>().Select(v => v.LabelIndex).ToListAsync(ct), RandomNumberGenerator.GetInt32);
    }

    private static bool Contended(Exception e)
    {
        for (var inner = (Exception?)e; inner is not null; inner = inner.InnerException)
        {
            if (inner is ConcurrencyException or Placement.PlacementContendedException
                or PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure })
            {
                return true;
            }
        }

        return false;
    }
}
