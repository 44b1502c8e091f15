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

namespace Paddock.Portal.Features.Vms;

/// <summary>A VM to create from template <paramref name="TemplateId"/> (the built-in one when null) with a disk of <paramref name="DiskMiB"/> (the template's size when null).</summary>
/// <remarks>With <paramref name="ImageId"/> the VM comes from the image library instead: a linked clone of a disk image, or a blank disk with an ISO in its CD-ROM drive to install from.</remarks>
public sealed record NewVm(string Name, int VCpus, int MemoryMiB, Guid? TemplateId = null, int? DiskMiB = null, Guid? ImageId = null);

/// <summary>A request that cannot be carried out; <see cref="Field"/> names the input at fault, if one is.</summary>
public sealed class VmRequestException(string message, string? field = null) : Exception(message)
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
    public async Task<Guid> CreateAsync(ClaimsPrincipal user, NewVm request, CancellationToken ct = default)
    {
        Check(ValidateName(request.Name), "name");
        Check(ValidateVCpus(request.VCpus), "vcpus");
        Check(ValidateMemory(request.MemoryMiB), "memory");
        if (request.ImageId is { } imageId)
        {
            return await CreateFromImageAsync(user, request, imageId, ct);
        }

        VmTemplate template;
        await using (var session = store.QuerySession())
        {
            template = await TemplateService.FindAsync(session, user, request.TemplateId ?? TemplateService.BuiltinId, ct)
                ?? throw new VmRequestException("Template: no such template.", "template");
        }

        var diskBytes = template.DiskBytes;
        if (request.DiskMiB is { } diskMiB)
        {
            Check(ValidateDisk(diskMiB, template.DiskBytes), "disk");
            diskBytes = Math.Max(template.DiskBytes, diskMiB * 1024L * 1024);
        }

        return await DefineAsync(user, request.Name.Trim(), template.Name, template.Image, request.VCpus, request.MemoryMiB, diskBytes, null, ct, template.Id);
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
            source = await FindAsync(session, user, sourceId, ct) ?? throw new VmNotFoundException();
        }

        if (source.Status is not VmStatus.Stopped || source.PendingVerb is not null)
        {
            throw new VmRequestException($"Clone needs the VM Stopped; it is {VmRules.Describe(source.Status)}.");
        }

        return await DefineAsync(user, name.Trim(), source.TemplateName, source.BaseImage, source.VCpus, source.MemoryMiB, source.DiskBytes, source, ct);
    }

    /// <summary>A VM from the library: a disk image becomes its base (fetched by the host if needed); an ISO goes into its CD-ROM drive over a blank disk, and it boots from the CD first.</summary>
    private async Task<Guid> CreateFromImageAsync(ClaimsPrincipal user, NewVm request, Guid imageId, CancellationToken ct)
    {
        LibraryImage image;
        await using (var session = store.QuerySession())
        {
            image = await ImageService.FindAsync(session, user, imageId, ct) ?? throw new VmRequestException("Image: no such image.", "image");
        }

        if (image.Kind == ImageKind.Iso)
        {
            var diskMiB = request.DiskMiB ?? throw new VmRequestException("Disk: give the size of the blank disk to install onto.", "disk");
            Check(ValidateDisk(diskMiB, 1024 * 1024), "disk");
            return await DefineAsync(user, request.Name.Trim(), $"ISO {image.Name}", "", request.VCpus, request.MemoryMiB, diskMiB * 1024L * 1024, null, ct,
                cdrom: (image.FileName, image.Name));
        }

        // The overlay's size is whole 512-byte sectors, and never smaller than the image.
        var minimum = (image.VirtualSize + 511) / 512 * 512;
        var diskBytes = minimum;
        if (request.DiskMiB is { } asked)
        {
            Check(ValidateDisk(asked, minimum), "disk");
            diskBytes = Math.Max(minimum, asked * 1024L * 1024);
        }

        return await DefineAsync(user, request.Name.Trim(), $"Image {image.Name}", image.FileName, request.VCpus, request.MemoryMiB, diskBytes, null, ct);
    }

    private async Task<Guid> DefineAsync(
        ClaimsPrincipal user, string name, string templateName, string baseImage, int vcpus, int memoryMiB, long diskBytes, Vm? cloneOf, CancellationToken ct,
        Guid? templateId = null, (string Image, string Name)? cdrom = null)
    {
        var owner = user.UserId();

        // A label collision (two creates drew the same pair) is retried with a fresh draw; the
        // database's unique index, not this process, is what makes the pair the VM's alone.
        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            if (await session.Query<Vm>().AnyAsync(v => v.OwnerId == owner && v.Name == name, ct))
            {
                throw NameTaken(name);
            }

            // The template's document is stored again with the VM, version-checked: a delete of the
            // template that raced this create fails, or this create does.
            var template = templateId is { } tid ? await session.LoadAsync<VmTemplate>(tid, ct) : null;
            if (templateId is not null)
            {
                if (template is not { State: TemplateState.Ready })
                {
                    throw new VmRequestException($"Template: '{templateName}' is {(template is null ? "gone" : "not ready")}.", "template");
                }

                session.Store(template);
            }

            // Templates and images come from the library (or are on every host): any host can take the VM.
            var hostId = cloneOf?.HostId ?? (await PickHostAsync(session, ct)).Id;

            var vmId = Guid.NewGuid();
            var labelIndex = RandomNumberGenerator.GetInt32(IsolationLabels.PairCount);
            var uid = IsolationLabels.UidFor(IsolationLabels.FromIndex(labelIndex), options.Value.VmUidBase);
            var now = clock.GetUtcNow();
            var created = new VmCreated(
                vmId, owner, name, templateName, baseImage, vcpus, memoryMiB, diskBytes,
                cloneOf?.MachineType ?? VmSpec.DefaultMachineType, hostId, labelIndex, uid, RandomMac(), owner, now, cloneOf?.Id, templateId,
                cdrom?.Image ?? cloneOf?.Cdrom, cdrom?.Name ?? cloneOf?.CdromName);
            // An installation boots from its CD first; a clone boots as its source did.
            var settings = cdrom is not null ? VmSettings.Default with { BootOrder = VmSettings.CdromFirst } : cloneOf?.Settings;
            var operation = Guid.NewGuid();
            var defined = Vm.Create(created);
            defined.Settings = settings ?? defined.Settings;
            var spec = SpecOf(defined);
            if (cloneOf is not null)
            {
                // The clone's disks are full copies: they need no base image.
                spec = spec with { Disks = [.. spec.Disks.Select(d => d with { BaseImage = null })] };
            }

            try
            {
                VmSpecValidator.Validate(spec);
            }
            catch (InvalidVmSpecException e)
            {
                throw new VmRequestException(e.Message);
            }

            audit.Add(session, user, AuditKind.VmOperation, cloneOf is null ? $"Create '{name}' from {templateName}" : $"Clone '{cloneOf.Name}' as '{name}'", vmId);
            session.Events.StartStream<Vm>(vmId, settings is null
                ? [created, new VmOperationRequested(operation, VmVerb.Create, owner, now)]
                : [created, new VmSettingsChanged(settings, owner, now), new VmOperationRequested(operation, VmVerb.Create, owner, now)]);
            session.Insert(NewCommand(operation, created.VmId, hostId,
                new VmCommand(operation, vmId, VmVerb.Create, spec, StartAfterCreate: cloneOf is null, CloneFrom: cloneOf?.Id), now));
            try
            {
                await session.SaveChangesAsync(ct);
            }
            catch (ConcurrencyException) when (attempt < 5)
            {
                // Another VM was created from the same template at the same moment: go again.
                continue;
            }
            catch (ConcurrencyException)
            {
                throw new VmRequestException("The template changed meanwhile; try again.", "template");
            }
            catch (Exception e) when (UniqueViolation(e) is { } constraint)
            {
                if (constraint.Contains("label", StringComparison.Ordinal) && attempt < 5)
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

        var spec = VmHardware.Apply(vm, SpecOf(vm), change);
        await RequestAsync(user, vmId, VmVerb.ChangeHardware, ct, hardware: spec, expectedVersion: vm.Version);
    }

    /// <summary>Shares the VM with one of its owner's groups (or with none): its members may then use it. Owner or admin only.</summary>
    public async Task SetGroupAsync(ClaimsPrincipal user, Guid vmId, Guid? groupId, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Vm>(vmId, ct);
        var vm = stream.Aggregate;
        if (vm is null || !MayUse(user, vm, await GroupService.GroupsOfAsync(session, user.UserId(), ct)))
        {
            throw new VmNotFoundException();
        }

        if (!MayManage(user, vm))
        {
            throw new VmRequestException($"Only the owner of '{vm.Name}' or an admin may change its group.");
        }

        if (groupId is { } id && !(await GroupService.GroupsOfAsync(session, vm.OwnerId, ct)).Contains(id))
        {
            throw new VmRequestException("Group: one of the groups the VM's owner is in.", "group");
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

        var now = clock.GetUtcNow();
        var operation = Guid.NewGuid();
        stream.AppendOne(new VmOperationRequested(operation, verb, user.UserId(), now));
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
        catch (ConcurrencyException)
        {
            throw new VmRequestException("The VM changed meanwhile; look at its status and try again.");
        }

        dispatcher.Wake();
        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
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

    private static async Task<HostRecord> PickHostAsync(IQuerySession session, CancellationToken ct)
    {
        // Placement policy (overcommit, spread/pack) comes with several hosts; for now the biggest connected host.
        var hosts = await session.Query<HostRecord>().Where(h => h.Connected).OrderByDescending(h => h.MemoryBytes).ToListAsync(ct);
        return hosts.FirstOrDefault()
            ?? throw new VmRequestException("No host is connected to run the VM. Ask an admin to start a host agent.");
    }

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
