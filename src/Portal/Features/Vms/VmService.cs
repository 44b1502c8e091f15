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
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Admin;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Images;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Flavors;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Placement;

namespace Paddock.Portal.Features.Vms;

/// <summary>A VM to create from template <paramref name="TemplateId"/> (the built-in one when null) with a disk of <paramref name="DiskMiB"/> (the template's size when null).</summary>
/// <remarks>With <paramref name="ImageId"/> the VM comes from the image library instead: a linked clone of a disk image, or a blank disk with an ISO in its CD-ROM drive to install from.</remarks>
/// <remarks>
/// With <paramref name="FlavorId"/> the flavor's sizes are used and the others ignored. With
/// <paramref name="GroupId"/> the VM is shared with that group at once and counts against its quota
/// too. <paramref name="LeaseMinutes"/> sets when the VM expires; without it a VM expires only where
/// an admin set a maximum lease. Without <paramref name="Start"/> the VM is created Stopped.
/// </remarks>
public sealed record NewVm(
    string Name, int VCpus, int MemoryMiB, Guid? TemplateId = null, int? DiskMiB = null, Guid? ImageId = null,
    Guid? FlavorId = null, Guid? GroupId = null, int? LeaseMinutes = null, bool Start = true);

/// <summary>A VM worked out from a <see cref="NewVm"/>: what <see cref="VmService.DefineAsync"/> creates.</summary>
public sealed record VmDefinition(
    string Name, string TemplateName, string BaseImage, int VCpus, int MemoryMiB, long DiskBytes,
    Guid? TemplateId = null, (string Image, string Name)? Cdrom = null, Guid? FlavorId = null, string? FlavorName = null,
    Guid? GroupId = null, TimeSpan? Lease = null, bool Start = true, ResourceLimits? Limits = null, string? Accelerator = null);

/// <summary>What a create would make, and why (if at all) it needs an admin's approval.</summary>
public sealed record VmPlan(VmDefinition Definition, IReadOnlyList<string> NeedsApproval);

/// <summary>The create is allowed only with an admin's approval: submit it as a request.</summary>
public sealed class ApprovalNeededException(IReadOnlyList<string> reasons)
    : VmRequestException(string.Join(" ", reasons) + " Submit it as a request.")
{
    public IReadOnlyList<string> Reasons { get; } = reasons;
}

/// <summary>A request that cannot be carried out; <see cref="Field"/> names the input at fault, if one is.</summary>
public class VmRequestException(string message, string? field = null) : Exception(message)
{
    public string? Field { get; } = field;
}

/// <summary>The VM does not exist or is not the caller's: the same answer for both.</summary>
public sealed class VmNotFoundException() : Exception("No such VM.");

/// <summary>Decides what people ask of their VMs: load, decide, append, save, then tell the agent.</summary>
public sealed partial class VmService(
    IDocumentStore store,
    IOptions<PortalOptions> options,
    CommandDispatcher dispatcher,
    ChangeNotifier<VmChanged> notifier,
    Audit audit,
    QuotaService quotas,
    TimeProvider clock)
{
    public const int MaxNameLength = 64;
    public const int MaxVCpus = 16;
    public const int MinMemoryMiB = 64;
    public const int MaxMemoryMiB = 65536;
    public const int MaxDiskMiB = 256 * 1024;

    /// <summary>The VM when the caller may see it, otherwise null (never a hint that it exists).</summary>
    public static async Task<Vm?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        var vm = await session.LoadAsync<Vm>(id, ct);
        return vm is not null && (MayManage(user, vm) || MayUse(user, vm, await GroupService.GroupsOfAsync(session, user.UserId(), ct))) ? vm : null;
    }

    /// <summary>Delete it, change its group, make a template of it: its owner and admins.</summary>
    public static bool MayManage(ClaimsPrincipal user, Vm vm) => vm.OwnerId == user.UserId() || user.IsAdmin();

    /// <summary>See it, use its consoles, start and stop it, take snapshots: also the members of its group.</summary>
    public static bool MayUse(ClaimsPrincipal user, Vm vm, IReadOnlyCollection<Guid> groups) =>
        MayManage(user, vm) || vm.GroupId is { } group && groups.Contains(group);

    /// <summary>Verbs only the owner or an admin may ask for.</summary>
    public static bool NeedsOwner(VmVerb verb) => verb is VmVerb.Delete or VmVerb.ConvertToTemplate;

    public static async Task<IReadOnlyList<Vm>> ListAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var owner = user.UserId();
        var groups = await GroupService.GroupsOfAsync(session, owner, ct);
        var own = await session.Query<Vm>().Where(v => v.OwnerId == owner).ToListAsync(ct);
        var shared = groups.Count == 0 ? [] : (await session.Query<Vm>().Where(v => v.GroupId != null && v.OwnerId != owner).ToListAsync(ct)).Where(v => groups.Contains(v.GroupId!.Value));
        return [.. own.Concat(shared).OrderBy(v => v.OwnerId != owner).ThenBy(v => v.Name)];
    }

    public static string? ValidateName(string? name) => DisplayNames.Problem(name, MaxNameLength);

    public static string? ValidateVCpus(int vcpus) =>
        vcpus is < 1 or > MaxVCpus ? $"vCPUs: between 1 and {MaxVCpus}." : null;

    public static string? ValidateMemory(int memoryMiB) =>
        memoryMiB is < MinMemoryMiB or > MaxMemoryMiB ? $"Memory: between {MinMemoryMiB} and {MaxMemoryMiB} MiB." : null;

    /// <summary>The disk may grow beyond the template's (the guest sees a bigger disk), never shrink below it.</summary>
    public static string? ValidateDisk(int diskMiB, long templateBytes)
    {
        var min = (int)Math.Ceiling(templateBytes / (1024.0 * 1024));
        return diskMiB < min || diskMiB > MaxDiskMiB ? $"Disk: between {min} MiB (the template's disk) and {MaxDiskMiB} MiB." : null;
    }

    /// <summary>A linked clone of a template the caller may see: a qcow2 overlay on the template's image, on the template's host.</summary>
    /// <remarks>
    /// A create that needs an admin's approval (a flavor or template marked so, a lease beyond the
    /// maximum) is refused with <see cref="ApprovalNeededException"/>; one over quota with
    /// <see cref="Quotas.QuotaExceededException"/>. Either can be submitted as a request instead.
    /// </remarks>
    public async Task<Guid> CreateAsync(ClaimsPrincipal user, NewVm request, CancellationToken ct = default)
    {
        var plan = await PlanAsync(user, request, ct);
        if (plan.NeedsApproval.Count > 0 && !user.IsAdmin())
        {
            throw new ApprovalNeededException(plan.NeedsApproval);
        }

        return await DefineAsync(user, user.UserId(), plan.Definition, null, ct);
    }

    /// <summary>
    /// Checks <paramref name="request"/> as <paramref name="user"/> would make it and works out the
    /// VM: its source, sizes (a flavor's, or the person's own where the policy allows), group and
    /// lease, and what of it needs an admin's approval. Bad input is refused with the field at fault.
    /// </summary>
    public async Task<VmPlan> PlanAsync(ClaimsPrincipal user, NewVm request, CancellationToken ct = default)
    {
        Check(ValidateName(request.Name), "name");
        await using var session = store.QuerySession();
        var needs = new List<string>();
        var maxLeases = new List<(TimeSpan Max, string Why)>();
        var (vcpus, memoryMiB, flavorDiskMiB) = (request.VCpus, request.MemoryMiB, request.DiskMiB);
        Flavor? flavor = null;
        if (request.FlavorId is { } flavorId)
        {
            flavor = await session.LoadAsync<Flavor>(flavorId, ct);
            if (flavor is null || !FlavorService.MayUse(flavor, user, await GroupService.GroupsOfAsync(session, user.UserId(), ct)))
            {
                throw new VmRequestException("Flavor: no such flavor.", "flavor");
            }

            (vcpus, memoryMiB, flavorDiskMiB) = (flavor.VCpus, flavor.MemoryMiB, flavor.DiskMiB);
            if (flavor.NeedsApproval)
            {
                needs.Add($"Flavor '{flavor.Name}' needs an admin's approval.");
            }

            if (flavor.MaxLease is { } max)
            {
                maxLeases.Add((max, $"flavor '{flavor.Name}'"));
            }
        }
        else if (!user.IsAdmin() && !(await PolicyService.GetAsync(session, ct)).CustomSizes)
        {
            throw new VmRequestException("Flavor: choose one of the flavors; sizes of your own are not offered here.", "flavor");
        }

        Check(ValidateVCpus(vcpus), "vcpus");
        Check(ValidateMemory(memoryMiB), "memory");
        var name = request.Name.Trim();
        VmDefinition definition;
        if (request.ImageId is { } imageId)
        {
            var image = await ImageService.FindAsync(session, user, imageId, ct) ?? throw new VmRequestException("Image: no such image.", "image");
            if (image.Kind == ImageKind.Iso)
            {
                var diskMiB = flavorDiskMiB ?? throw new VmRequestException("Disk: give the size of the blank disk to install onto.", "disk");
                Check(ValidateDisk(diskMiB, 1024 * 1024), "disk");
                definition = new VmDefinition(name, $"ISO {image.Name}", "", vcpus, memoryMiB, diskMiB * 1024L * 1024, Cdrom: (image.FileName, image.Name));
            }
            else
            {
                // The overlay's size is whole 512-byte sectors, and never smaller than the image.
                var minimum = (image.VirtualSize + 511) / 512 * 512;
                var diskBytes = minimum;
                if (flavorDiskMiB is { } asked)
                {
                    Check(ValidateDisk(asked, minimum), "disk");
                    diskBytes = Math.Max(minimum, asked * 1024L * 1024);
                }

                definition = new VmDefinition(name, $"Image {image.Name}", image.FileName, vcpus, memoryMiB, diskBytes);
            }
        }
        else
        {
            var template = await TemplateService.FindAsync(session, user, request.TemplateId ?? TemplateService.BuiltinId, ct)
                ?? throw new VmRequestException("Template: no such template.", "template");
            var diskBytes = template.DiskBytes;
            if (flavorDiskMiB is { } diskMiB)
            {
                Check(ValidateDisk(diskMiB, template.DiskBytes), "disk");
                diskBytes = Math.Max(template.DiskBytes, diskMiB * 1024L * 1024);
            }

            if (template.NeedsApproval)
            {
                needs.Add($"Template '{template.Name}' needs an admin's approval.");
            }

            if (template.MaxLease is { } max)
            {
                maxLeases.Add((max, $"template '{template.Name}'"));
            }

            definition = new VmDefinition(name, template.Name, template.Image, vcpus, memoryMiB, diskBytes, TemplateId: template.Id);
        }

        if (request.GroupId is { } groupId)
        {
            if (!(await GroupService.GroupsOfAsync(session, user.UserId(), ct)).Contains(groupId))
            {
                throw new VmRequestException("Group: one of the groups you are in.", "group");
            }

            if ((await QuotaService.EffectiveAsync(session, groupId, group: true, ct)).MaxLease is { } max)
            {
                maxLeases.Add((max, $"group '{(await session.LoadAsync<Group>(groupId, ct))?.Name}'"));
            }
        }

        if ((await QuotaService.EffectiveAsync(session, user.UserId(), group: false, ct)).MaxLease is { } userMax)
        {
            maxLeases.Add((userMax, "your quota"));
        }

        TimeSpan? lease = request.LeaseMinutes is { } minutes ? TimeSpan.FromMinutes(minutes) : null;
        if (lease is { } asked2 && (asked2 < TimeSpan.FromMinutes(1) || asked2 > MaxLease))
        {
            throw new VmRequestException("Lease: between 1 minute and 10 years, or none.", "lease");
        }

        if (maxLeases.Count > 0)
        {
            var (max, why) = maxLeases.MinBy(m => m.Max);
            if (lease is null)
            {
                // Where a maximum applies, a VM gets the longest lease allowed unless it asks for less.
                lease = max;
            }
            else if (lease > max)
            {
                needs.Add($"Lease: {Leases.Describe(lease.Value)} asked, at most {Leases.Describe(max)} for {why}.");
            }
        }

        return new VmPlan(definition with { FlavorId = flavor?.Id, FlavorName = flavor?.Name, GroupId = request.GroupId, Lease = lease, Start = request.Start, Limits = flavor?.Limits, Accelerator = flavor?.RequiredAccelerator }, needs);
    }

    /// <summary>The longest lease anyone may ask for.</summary>
    public static readonly TimeSpan MaxLease = TimeSpan.FromDays(3650);

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
            source = await FindAsync(session, user, sourceId, ct) ?? throw new VmNotFoundException();
        }

        if (source.Status is not VmStatus.Stopped || source.PendingVerb is not null)
        {
            throw new VmRequestException($"Clone needs the VM Stopped; it is {VmRules.Describe(source.Status)}.");
        }

        return await DefineAsync(user, user.UserId(), new VmDefinition(name.Trim(), source.TemplateName, source.BaseImage, source.VCpus, source.MemoryMiB, source.DiskBytes), source, ct);
    }

    /// <summary>
    /// Creates the VM for <paramref name="owner"/> in one transaction with its quota admission and
    /// (through <paramref name="alsoInTransaction"/>) whatever the caller records with it, such as
    /// a request's approval. With <paramref name="raiseQuota"/> an admin's approval raises the
    /// owner's (and group's) limits just enough, in the same transaction.
    /// </summary>
    public async Task<Guid> DefineAsync(
        ClaimsPrincipal actor, Guid owner, VmDefinition d, Vm? cloneOf, CancellationToken ct,
        Func<IDocumentSession, Guid, Task>? alsoInTransaction = null, bool raiseQuota = false, string? reason = null, Guid? requestId = null)
    {
        // Creates wait for the database's locks one after the other anyway; the ones beyond a few wait
        // here, holding no pooled connection, so that pages and agents' reports still get one.
        await _creates.WaitAsync(ct);
        try
        {
            return await DefineOnceAsync(actor, owner, d, cloneOf, ct, alsoInTransaction, raiseQuota, reason, requestId);
        }
        finally
        {
            _creates.Release();
        }
    }

    /// <summary>How many creates of this process may be inside the database at once.</summary>
    public const int ConcurrentCreates = 8;

    private readonly SemaphoreSlim _creates = new(ConcurrentCreates);

    private async Task<Guid> DefineOnceAsync(
        ClaimsPrincipal actor, Guid owner, VmDefinition d, Vm? cloneOf, CancellationToken ct,
        Func<IDocumentSession, Guid, Task>? alsoInTransaction, bool raiseQuota, string? reason, Guid? requestId)
    {
        var (name, templateName, templateId, cdrom) = (d.Name, d.TemplateName, d.TemplateId, d.Cdrom);

        // A collision with a concurrent create (the same quota ledger or template, or the same label
        // drawn) is decided again from fresh data; the database, not this process, decides who won.
        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            if (await session.Query<Vm>().AnyAsync(v => v.OwnerId == owner && v.Name == name, ct))
            {
                throw NameTaken(name);
            }

            await quotas.AdmitAsync(session, owner, d.GroupId, QuotaUsage.OneVm(d.VCpus, d.MemoryMiB, d.DiskBytes), ct, raiseQuota ? actor : null, reason);

            // The template's document is stored again with the VM, version-checked: a delete of the
            // template that raced this create fails, or this create does.
            if (templateId is { } locked)
            {
                await TransactionLocks.TakeAsync(session, TransactionLocks.Template, locked, ct);
            }

            var template = templateId is { } tid ? await session.LoadAsync<VmTemplate>(tid, ct) : null;
            if (templateId is not null)
            {
                if (template is not { State: TemplateState.Ready })
                {
                    throw new VmRequestException($"Template: '{templateName}' is {(template is null ? "gone" : "not ready")}.", "template");
                }

                session.Store(template);
            }

            // Templates and images come from the library, which every host can fetch from: any host
            // can take the VM under its policy. A clone's disks are on its source's host.
            // The built-in template's image is installed with each host, not fetched from the library.
            var installed = cloneOf is null && d.BaseImage == options.Value.Template.Image ? d.BaseImage : null;
            var placement = await PlacementService.PlaceAsync(session, new Resources(d.VCpus, d.MemoryMiB, QuotaUsage.MiB(d.DiskBytes)), cloneOf?.HostId, clock, ct, d.Accelerator, installed);
            var hostId = placement.Chosen!.Id;

            var vmId = Guid.NewGuid();
            // A free pair, at random (libvirt's way); the unique index still decides a race for one.
            var labelIndex = IsolationLabels.PickFree(await session.Query<Vm>().Select(v => v.LabelIndex).ToListAsync(ct), RandomNumberGenerator.GetInt32);
            var uid = IsolationLabels.UidFor(IsolationLabels.FromIndex(labelIndex), options.Value.VmUidBase);
            var now = clock.GetUtcNow();
            var created = new VmCreated(
                vmId, owner, name, templateName, d.BaseImage, d.VCpus, d.MemoryMiB, d.DiskBytes,
                cloneOf?.MachineType ?? VmSpec.DefaultMachineType, hostId, labelIndex, uid, RandomMac(), actor.UserId(), now, cloneOf?.Id, templateId,
                cdrom?.Image ?? cloneOf?.Cdrom, cdrom?.Name ?? cloneOf?.CdromName, d.GroupId, d.FlavorId, d.FlavorName, now + d.Lease, requestId, d.Limits ?? cloneOf?.Limits);
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
                throw new VmRequestException(e.Message);
            }

            audit.Add(session, actor, AuditKind.VmOperation, cloneOf is null ? $"Create '{name}' from {templateName}" : $"Clone '{cloneOf.Name}' as '{name}'", vmId);
            var placed = new VmPlaced(hostId, placement.Chosen.Name, placement.PassedOver, now);
            session.Events.StartStream<Vm>(vmId, settings is null
                ? [created, placed, new VmOperationRequested(operation, VmVerb.Create, actor.UserId(), now)]
                : [created, placed, new VmSettingsChanged(settings, actor.UserId(), now), new VmOperationRequested(operation, VmVerb.Create, actor.UserId(), now)]);
            session.Insert(NewCommand(operation, created.VmId, hostId,
                new VmCommand(operation, vmId, VmVerb.Create, spec, StartAfterCreate: cloneOf is null && d.Start, CloneFrom: cloneOf?.Id), now));
            if (alsoInTransaction is not null)
            {
                await alsoInTransaction(session, vmId);
            }

            try
            {
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
                throw new VmRequestException("Too many changes at the same moment; try again.");
            }
            catch (Exception e) when (UniqueViolation(e) is { } constraint)
            {
                if (constraint.Contains("label", StringComparison.Ordinal) && attempt < MaxAttempts)
                {
                    continue;
                }

                throw NameTaken(name);
            }

            dispatcher.Wake();
            notifier.Publish(new VmChanged(vmId, owner));
            return vmId;
        }
    }

    private const int MaxAttempts = 40;

    /// <summary>Lost a race another transaction won: a version check, a deadlock or a serialization failure.</summary>
    private static bool Contended(Exception e)
    {
        for (var inner = (Exception?)e; inner is not null; inner = inner.InnerException)
        {
            if (inner is ConcurrencyException or PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Who the lease keeper's steps are recorded as in the audit log.</summary>
    private static readonly ClaimsPrincipal LeaseKeeperPrincipal = new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "lease keeper")]));

    /// <summary>Takes the lease step that is due for the VM now (tell, expire and shut down, or delete), version-checked.</summary>
    public async Task TakeLeaseStepAsync(Guid vmId, PortalPolicy policy, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Vm>(vmId, ct);
        if (stream.Aggregate is not { } vm)
        {
            return;
        }

        var now = clock.GetUtcNow();
        VmVerb? verb = null;
        switch (Leases.Next(vm, policy, now))
        {
            case LeaseStep.Notify:
                stream.AppendOne(new VmLeaseExpiring(vm.ExpiresAt!.Value, now));
                break;
            case LeaseStep.Expire:
                stream.AppendOne(new VmExpired(vm.ExpiresAt!.Value, now + policy.ExpiredGrace, now));
                audit.Add(session, LeaseKeeperPrincipal, AuditKind.VmOperation, $"Lease of '{vm.Name}' ended: shut down, kept until {now + policy.ExpiredGrace:u}", vm.Id);
                verb = vm.PendingOperation is null ? Leases.StopVerb(vm) : null;
                break;
            case LeaseStep.StopAgain:
                verb = Leases.StopVerb(vm);
                break;
            case LeaseStep.Delete:
                audit.Add(session, LeaseKeeperPrincipal, AuditKind.VmOperation, $"Delete '{vm.Name}': expired and kept for the grace period", vm.Id);
                verb = VmVerb.Delete;
                break;
            default:
                return;
        }

        if (verb is { } v)
        {
            var operation = Guid.NewGuid();
            stream.AppendOne(new VmOperationRequested(operation, v, Guid.Empty, now));
            session.Insert(NewCommand(operation, vm.Id, vm.HostId, new VmCommand(operation, vm.Id, v, null), now));
        }

        await session.SaveChangesAsync(ct);
        dispatcher.Wake();
        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
    }

    /// <summary>The longest lease the VM may have: the smallest maximum of its flavor, template, group and owner's quota; null when none applies.</summary>
    public static async Task<(TimeSpan Max, string Why)?> MaxLeaseOfAsync(IQuerySession session, Vm vm, CancellationToken ct = default)
    {
        var maxima = new List<(TimeSpan Max, string Why)>();
        if (vm.FlavorId is { } flavorId && await session.LoadAsync<Flavor>(flavorId, ct) is { MaxLease: { } f } flavor)
        {
            maxima.Add((f, $"flavor '{flavor.Name}'"));
        }

        if (vm.TemplateId is { } templateId && await session.LoadAsync<VmTemplate>(templateId, ct) is { MaxLease: { } t } template)
        {
            maxima.Add((t, $"template '{template.Name}'"));
        }

        if (vm.GroupId is { } groupId && (await QuotaService.EffectiveAsync(session, groupId, group: true, ct)).MaxLease is { } g)
        {
            maxima.Add((g, $"group '{(await session.LoadAsync<Group>(groupId, ct))?.Name}'"));
        }

        if ((await QuotaService.EffectiveAsync(session, vm.OwnerId, group: false, ct)).MaxLease is { } u)
        {
            maxima.Add((u, "the owner's quota"));
        }

        return maxima.Count == 0 ? null : maxima.MinBy(m => m.Max);
    }

    /// <summary>
    /// Sets the VM's lease to end <paramref name="lease"/> from now (never, when null). Within the
    /// maximum that applies it takes effect at once and an expired VM may be started again; beyond
    /// it (or, with a maximum, for no end at all) it needs an admin's approval.
    /// </summary>
    public async Task ExtendLeaseAsync(ClaimsPrincipal user, Guid vmId, TimeSpan? lease, CancellationToken ct = default, bool approved = false, Guid? requestId = null, Func<IDocumentSession, Task>? alsoInTransaction = null)
    {
        if (lease is { } l && (l < TimeSpan.FromMinutes(1) || l > MaxLease))
        {
            throw new VmRequestException("Lease: between 1 minute and 10 years, or none.", "lease");
        }

        await using var session = store.LightweightSession();
        var stream = await FetchToManageAsync(session, user, vmId, "change its lease", ct);
        var vm = stream.Aggregate!;

        if (vm.Status is VmStatus.Deleting || vm.PendingVerb is VmVerb.Delete)
        {
            throw new VmRequestException($"'{vm.Name}' is being deleted.");
        }

        if (!approved && !user.IsAdmin() && await MaxLeaseOfAsync(session, vm, ct) is { } max && (lease is null || lease > max.Max))
        {
            throw new ApprovalNeededException([$"Lease: {(lease is { } asked ? Leases.Describe(asked) : "no end")} asked, at most {Leases.Describe(max.Max)} for {max.Why}."]);
        }

        var now = clock.GetUtcNow();
        stream.AppendOne(new VmLeaseSet(now + lease, user.UserId(), now, requestId));
        audit.Add(session, user, AuditKind.VmOperation, $"Lease of '{vm.Name}' {(lease is { } set ? $"set to end in {Leases.Describe(set)}" : "set to never end")}", vm.Id);
        if (alsoInTransaction is not null)
        {
            await alsoInTransaction(session);
        }

        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new VmRequestException("The VM changed meanwhile; look at it and try again.");
        }

        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
    }

    /// <summary>The keys a person may send from the console's menu (QEMU qcodes), by the name the menu shows.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> KeyCombinations = new Dictionary<string, string[]>
    {
        ["Ctrl-Alt-Del"] = ["ctrl", "alt", "delete"],
        ["Ctrl-Alt-F1"] = ["ctrl", "alt", "f1"],
        ["Ctrl-Alt-F2"] = ["ctrl", "alt", "f2"],
        ["Ctrl-Alt-F3"] = ["ctrl", "alt", "f3"],
        ["Ctrl-Alt-F4"] = ["ctrl", "alt", "f4"],
        ["Ctrl-Alt-F5"] = ["ctrl", "alt", "f5"],
        ["Ctrl-Alt-F6"] = ["ctrl", "alt", "f6"],
        ["SysRq: show help (Alt-SysRq-H)"] = ["alt", "sysrq", "h"],
        ["SysRq: sync disks (Alt-SysRq-S)"] = ["alt", "sysrq", "s"],
        ["SysRq: reboot now (Alt-SysRq-B)"] = ["alt", "sysrq", "b"],
    };

    public static string? ValidateSettings(VmSettings settings) => settings switch
    {
        { ShutdownTimeoutSeconds: < VmSpecValidator.MinShutdownTimeoutSeconds or > VmSpecValidator.MaxShutdownTimeoutSeconds } =>
            $"Shutdown timeout: between {VmSpecValidator.MinShutdownTimeoutSeconds} and {VmSpecValidator.MaxShutdownTimeoutSeconds} seconds.",
        { MaxRestartsPerHour: < 1 or > VmSpecValidator.MaxRestartsPerHour } =>
            $"Restarts per hour: between 1 and {VmSpecValidator.MaxRestartsPerHour}.",
        _ when !Enum.IsDefined(settings.Restart) => "Restart policy: Never or OnCrash.",
        _ when !VmSettings.BootOrders.ContainsKey(settings.BootOrder) => $"Boot order: one of {string.Join("; ", VmSettings.BootOrders.Keys)}.",
        _ => null,
    };

    /// <summary>Sends one of <see cref="KeyCombinations"/> to the guest.</summary>
    public Task SendKeysAsync(ClaimsPrincipal user, Guid vmId, string combination, CancellationToken ct = default) =>
        KeyCombinations.TryGetValue(combination, out var keys)
            ? RequestAsync(user, vmId, VmVerb.SendKeys, ct, keys: keys)
            : throw new VmRequestException($"Keys: '{combination}' is not one of {string.Join(", ", KeyCombinations.Keys)}.", "keys");

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
    private static partial System.Text.RegularExpressions.Regex SnapshotName();

    public static string? ValidateSnapshotName(string? name) =>
        name is not null && SnapshotName().IsMatch(name) ? null : "Snapshot name: 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit.";

    /// <summary>Takes, reverts to or deletes a snapshot of the caller's VM.</summary>
    public Task SnapshotAsync(ClaimsPrincipal user, Guid vmId, VmVerb verb, string name, CancellationToken ct = default)
    {
        Check(ValidateSnapshotName(name), "name");
        return verb is VmVerb.Snapshot or VmVerb.RevertSnapshot or VmVerb.DeleteSnapshot
            ? RequestAsync(user, vmId, verb, ct, snapshot: name)
            : throw new ArgumentOutOfRangeException(nameof(verb));
    }

    /// <summary>Adds, removes or grows a disk or NIC, or sets the vCPUs: hot when the VM runs, kept for every later boot.</summary>
    public async Task ChangeHardwareAsync(ClaimsPrincipal user, Guid vmId, HardwareChange change, CancellationToken ct = default)
    {
        Vm vm;
        await using (var session = store.QuerySession())
        {
            vm = await FindAsync(session, user, vmId, ct) ?? throw new VmNotFoundException();
        }

        if (change.Action == HardwareAction.SetBalloon && !user.IsAdmin())
        {
            // Ballooning takes memory from a guest for the host's sake: the admins' lever.
            throw new VmRequestException("Only admins set a VM's balloon.", "balloon");
        }

        var spec = VmHardware.Apply(vm, SpecOf(vm), change);
        await RequestAsync(user, vmId, VmVerb.ChangeHardware, ct, hardware: spec, expectedVersion: vm.Version);
    }

    /// <summary>What a VM with <paramref name="spec"/> counts against quotas.</summary>
    private static QuotaUsage UsageOf(Vm vm, VmSpec spec) => QuotaUsage.OneVm(spec.VCpus, vm.MemoryMiB, spec.Disks.Sum(d => d.SizeBytes));

    /// <summary>What a VM grows by, resource by resource; shrinking frees nothing until it is done.</summary>
    private static QuotaUsage Growth(QuotaUsage before, QuotaUsage after) => new(
        0, Math.Max(0, after.VCpus - before.VCpus), Math.Max(0, after.MemoryMiB - before.MemoryMiB), Math.Max(0, after.DiskMiB - before.DiskMiB));

    /// <summary>The VM's stream for a change only its owner or an admin may make: others who may see it are told so, everyone else gets "no such VM".</summary>
    private static async Task<JasperFx.Events.IEventStream<Vm>> FetchToManageAsync(IDocumentSession session, ClaimsPrincipal user, Guid vmId, string what, CancellationToken ct)
    {
        var stream = await session.Events.FetchForWriting<Vm>(vmId, ct);
        var vm = stream.Aggregate;
        if (vm is null || !MayUse(user, vm, await GroupService.GroupsOfAsync(session, user.UserId(), ct)))
        {
            throw new VmNotFoundException();
        }

        return MayManage(user, vm) ? stream : throw new VmRequestException($"Only the owner of '{vm.Name}' or an admin may {what}.");
    }

    /// <summary>Shares the VM with one of its owner's groups (or with none): its members may then use it. Owner or admin only.</summary>
    public async Task SetGroupAsync(ClaimsPrincipal user, Guid vmId, Guid? groupId, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var stream = await FetchToManageAsync(session, user, vmId, "change its group", ct);
        var vm = stream.Aggregate!;

        if (groupId is { } id && !(await GroupService.GroupsOfAsync(session, vm.OwnerId, ct)).Contains(id))
        {
            throw new VmRequestException("Group: one of the groups the VM's owner is in.", "group");
        }

        if (groupId is { } joined && joined != vm.GroupId)
        {
            // The VM counts against the group it joins, which must have room for it.
            await quotas.AdmitAsync(session, null, joined, QuotaService.UsageOf(vm), ct);
        }

        stream.AppendOne(new VmGroupChanged(groupId, user.UserId(), clock.GetUtcNow()));
        audit.Add(session, user, AuditKind.VmOperation, groupId is null ? $"Stop sharing '{vm.Name}' with a group" : $"Share '{vm.Name}' with group {groupId}", vm.Id);
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new VmRequestException("The VM changed meanwhile; look at it and try again.");
        }

        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
    }

    /// <summary>Puts an ISO from the library into the VM's CD-ROM drive, or ejects the disc when <paramref name="imageId"/> is null.</summary>
    public async Task ChangeMediumAsync(ClaimsPrincipal user, Guid vmId, Guid? imageId, CancellationToken ct = default)
    {
        LibraryImage? image = null;
        if (imageId is { } id)
        {
            await using var session = store.QuerySession();
            image = await ImageService.FindAsync(session, user, id, ct);
            if (image is not { Kind: ImageKind.Iso })
            {
                throw new VmRequestException("CD: no such ISO image.", "image");
            }
        }

        await RequestAsync(user, vmId, VmVerb.ChangeMedium, ct, medium: (image?.FileName, image?.Name));
    }

    /// <summary>
    /// Admins only: ends a VM's isolation hold by sending its host the portal's record (label, uid
    /// and the rest of the spec) again. Should the host still disagree (a QEMU that runs as another
    /// uid), its next report raises the alert again.
    /// </summary>
    public async Task ResolveIsolationAsync(ClaimsPrincipal admin, Guid vmId, CancellationToken ct = default)
    {
        if (!admin.IsAdmin())
        {
            throw new VmRequestException("Only admins resolve isolation alerts.");
        }

        await using var session = store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Vm>(vmId, ct);
        var vm = stream.Aggregate ?? throw new VmNotFoundException();
        if (vm.IsolationAlert is null)
        {
            throw new VmRequestException($"'{vm.Name}' has no isolation alert to resolve.");
        }

        var now = clock.GetUtcNow();
        var operation = Guid.NewGuid();
        stream.AppendOne(new VmIsolationResolved(admin.UserId(), admin.Identity?.Name ?? "", now));
        session.Insert(NewCommand(operation, vm.Id, vm.HostId, new VmCommand(operation, vm.Id, VmVerb.Configure, SpecOf(vm)), now));
        audit.Add(session, admin, AuditKind.IsolationAlert, $"Resolved '{vm.Name}': its host was sent the portal's record again (label {vm.Label}, uid {vm.Uid}); the alert was: {vm.IsolationAlert}", vm.Id);
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new VmRequestException("The VM changed meanwhile; look at it and try again.");
        }

        dispatcher.Wake();
        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
    }

    /// <summary>Why a VM may not start on the host: it lacks a wall and no admin allowed unconfined VMs there. Null when it may.</summary>
    private static async Task<string?> UnconfinedRefusalAsync(IQuerySession session, Guid hostId, CancellationToken ct)
    {
        var host = await session.LoadAsync<Paddock.Portal.Features.Hosts.HostRecord>(hostId, ct);
        var policy = await session.LoadAsync<Placement.HostPolicy>(hostId, ct);
        return Paddock.Engine.Isolation.Confinement.RefusalFor(host?.ConfinementMissing ?? [], policy?.AllowUnconfined ?? false);
    }

    /// <summary>Changes the VM's settings; the agent gets them at once (restart policy) or at the next boot.</summary>
    public Task ConfigureAsync(ClaimsPrincipal user, Guid vmId, VmSettings settings, CancellationToken ct = default)
    {
        Check(ValidateSettings(settings), "settings");
        return RequestAsync(user, vmId, VmVerb.Configure, ct, settings: settings);
    }

    /// <summary>Asks for <paramref name="verb"/> on the caller's VM; refuses with the reason when the VM's status does not allow it.</summary>
    public async Task RequestAsync(
        ClaimsPrincipal user, Guid vmId, VmVerb verb, CancellationToken ct = default, string[]? keys = null, VmSettings? settings = null, string? snapshot = null,
        (string? Image, string? Name)? medium = null, VmSpec? hardware = null, int? expectedVersion = null)
    {
        if (verb is VmVerb.SendKeys && keys is null || verb is VmVerb.Configure && settings is null || verb is VmVerb.ChangeMedium && medium is null
            || verb is VmVerb.ChangeHardware && hardware is null
            || verb is VmVerb.Snapshot or VmVerb.RevertSnapshot or VmVerb.DeleteSnapshot && snapshot is null)
        {
            throw new VmRequestException($"{VmRules.Describe(verb)} needs its details; use its own call.");
        }

        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            var stream = await session.Events.FetchForWriting<Vm>(vmId, ct);
            var vm = stream.Aggregate;
            if (vm is null || !MayUse(user, vm, await GroupService.GroupsOfAsync(session, user.UserId(), ct)))
            {
                throw new VmNotFoundException();
            }

            if (NeedsOwner(verb) && !MayManage(user, vm))
            {
                throw new VmRequestException($"Only the owner of '{vm.Name}' or an admin may {VmRules.Describe(verb).ToLowerInvariant()} it.");
            }

            if (expectedVersion is { } version && vm.Version != version)
            {
                // The hardware was decided on an older VM: decide again rather than undo what changed.
                throw new VmRequestException("The VM changed meanwhile; look at it and try again.");
            }

            if ((VmRules.Refusal(vm, verb) ?? (snapshot is null ? null : VmRules.SnapshotRefusal(vm, verb, snapshot))) is { } refusal)
            {
                throw new VmRequestException(refusal, refusal.StartsWith("Snapshot name", StringComparison.Ordinal) ? "name" : null);
            }

            if (verb is VmVerb.Start or VmVerb.Restore && await UnconfinedRefusalAsync(session, vm.HostId, ct) is { } unconfined)
            {
                // The host refuses it too; saying so here spares a task that can only fail.
                throw new VmRequestException(unconfined);
            }

            var now = clock.GetUtcNow();
            var operation = Guid.NewGuid();
            stream.AppendOne(new VmOperationRequested(operation, verb, user.UserId(), now));
            if (hardware is not null)
            {
                // More vCPUs or disk must fit the owner's (and the group's) quota, decided in this transaction.
                var growth = Growth(QuotaService.UsageOf(vm), UsageOf(vm, hardware));
                if (growth != QuotaUsage.Zero)
                {
                    await quotas.AdmitAsync(session, vm.OwnerId, vm.GroupId, growth, ct);
                }

                stream.AppendOne(new VmHardwareRequested(operation, hardware.VCpus, hardware.Disks.Sum(d => d.SizeBytes), now));
            }

            var spec = hardware;
            if (settings is not null)
            {
                if (settings.BootOrder != vm.Settings.BootOrder && vm.Status is not VmStatus.Stopped)
                {
                    throw new VmRequestException($"Boot order: change it while the VM is Stopped; it is {VmRules.Describe(vm.Status)}.", "settings");
                }

                stream.AppendOne(new VmSettingsChanged(settings, user.UserId(), now));
                spec = SpecOf(vm) with
                {
                    ShutdownTimeoutSeconds = settings.ShutdownTimeoutSeconds,
                    Restart = settings.Restart,
                    MaxRestartsPerHour = settings.MaxRestartsPerHour,
                    BootOrder = settings.BootDevices,
                };
            }

            audit.Add(session, user, AuditKind.VmOperation, $"{VmRules.Describe(verb)} '{vm.Name}'{(snapshot is null ? "" : $" ({snapshot})")}", vm.Id);
            var command = NewCommand(operation, vm.Id, vm.HostId, new VmCommand(operation, vm.Id, verb, spec, Keys: keys, Snapshot: snapshot, Image: medium?.Image), now);
            command.DisplayName = medium?.Name;
            session.Insert(command);
            try
            {
                await session.SaveChangesAsync(ct);
            }
            catch (ConcurrencyException) when (attempt < 4 && expectedVersion is null)
            {
                // Something else landed on the stream meanwhile (often the agent's report of what the VM
                // does): read it again and decide again, rather than make the person press twice.
                continue;
            }
            catch (ConcurrencyException)
            {
                throw new VmRequestException("The VM changed meanwhile; look at its status and try again.");
            }

            dispatcher.Wake();
            notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
            return;
        }
    }

    public static VmSpec SpecOf(Vm vm) => new(
        vm.Id,
        vm.VCpus,
        VmHardware.MaxVCpusOf(vm),
        vm.MemoryMiB,
        vm.MachineType,
        vm.Uid,
        [new DiskSpec("disk0", vm.DiskBytes, vm.BaseImage.Length == 0 ? null : vm.BaseImage), .. vm.ExtraDisks.Select(d => new DiskSpec(d.Id, d.SizeBytes, null))],
        [new NicSpec("net0", vm.Mac), .. vm.ExtraNics.Select(n => new NicSpec(n.Id, n.Mac))])
    {
        ShutdownTimeoutSeconds = vm.Settings.ShutdownTimeoutSeconds,
        Restart = vm.Settings.Restart,
        MaxRestartsPerHour = vm.Settings.MaxRestartsPerHour,
        Cdroms = [new CdromSpec("cd0", vm.Cdrom)],
        BootOrder = vm.Settings.BootDevices,
        Limits = vm.Limits,
        BalloonTargetMiB = vm.BalloonTargetMiB,
        Label = vm.Label,
    };

    private static AgentCommand NewCommand(Guid operation, Guid vmId, Guid hostId, VmCommand command, DateTimeOffset now) => new()
    {
        Id = operation,
        VmId = vmId,
        HostId = hostId,
        Command = command,
        State = AgentCommandState.Pending,
        CreatedAt = now,
    };

    private static string RandomMac() => VmHardware.RandomMac();

    private static void Check(string? problem, string field)
    {
        if (problem is not null)
        {
            throw new VmRequestException(problem, field);
        }
    }

    private static VmRequestException NameTaken(string name) => new($"Name: you already have a VM called '{name}'.", "name");

    private static string? UniqueViolation(Exception e)
    {
        for (var inner = (Exception?)e; inner is not null; inner = inner.InnerException)
        {
            if (inner is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } pg)
            {
                return pg.ConstraintName ?? pg.MessageText;
            }

            if (inner is DocumentAlreadyExistsException or Marten.Exceptions.ExistingStreamIdCollisionException or JasperFx.Events.ExistingStreamIdCollisionException)
            {
                return "stream";
            }
        }

        return null;
    }
}
