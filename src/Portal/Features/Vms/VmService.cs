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
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Flavors;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Placement;

namespace Paddock.Portal.Features.Vms;

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
    Networks.NetworkService networks,
    Placement.PlacementView placementView,
    TimeProvider clock) : IDisposable
{
    public const int MaxNameLength = 64;

    /// <summary>The VM when the caller may see it, otherwise null (never a hint that it exists).</summary>
    public static async Task<Vm?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        var vm = await session.LoadAsync<Vm>(id, ct);
        return vm is not null && VmRights.Allows(await VmRights.RoleOfAsync(session, user, vm, ct), VmAction.See) ? vm : null;
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
        _ when settings.KeyboardLayout is null || !Engine.Qemu.KeyboardLayouts.Names.ContainsKey(settings.KeyboardLayout) =>
            $"Keyboard layout: one of {string.Join(", ", Engine.Qemu.KeyboardLayouts.Names.Keys)}.",
        _ when !Enum.IsDefined(settings.ConsoleSharing) => "Console sharing: Shared or TakeOver.",
        _ => null,
    };

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
    private static partial System.Text.RegularExpressions.Regex SnapshotName();

    public static string? ValidateSnapshotName(string? name) =>
        name is not null && SnapshotName().IsMatch(name) ? null : "Snapshot name: 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit.";

    /// <summary>The VM's stream for <paramref name="action"/>: others who may see the VM are told why not, everyone else gets "no such VM".</summary>
    private static async Task<JasperFx.Events.IEventStream<Vm>> FetchForAsync(IDocumentSession session, ClaimsPrincipal user, Guid vmId, VmAction action, CancellationToken ct)
    {
        var stream = await VmRights.FetchForWritingAsync(session, vmId, ct);
        await VmRights.DemandAsync(session, user, stream.Aggregate, action, ct);
        return stream;
    }

    /// <summary>Shares the VM with one of its owner's groups (or with none): its members may then use it. Owner or admin only.</summary>
    public async Task SetGroupAsync(ClaimsPrincipal user, Guid vmId, Guid? groupId, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var stream = await FetchForAsync(session, user, vmId, VmAction.ChangeGroup, ct);
        var vm = stream.Aggregate!;

        if (groupId is { } id && !(await GroupService.GroupsOfAsync(session, vm.OwnerId, ct)).Contains(id))
        {
            throw new RefusedException("Group: one of the groups the VM's owner is in.", "group");
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
            throw new RefusedException("The VM changed meanwhile; look at it and try again.");
        }

        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
    }

    /// <summary>
    /// Admins only: ends a VM's isolation hold by sending its host the portal's record (label, uid
    /// and the rest of the spec) again. Should the host still disagree (a QEMU that runs as another
    /// uid), its next report raises the alert again.
    /// </summary>
    public async Task ResolveIsolationAsync(ClaimsPrincipal admin, Guid vmId, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var stream = await FetchForAsync(session, admin, vmId, VmAction.ResolveIsolation, ct);
        var vm = stream.Aggregate!;
        if (vm.IsolationAlert is null)
        {
            throw new RefusedException($"'{vm.Name}' has no isolation alert to resolve.");
        }

        var now = clock.GetUtcNow();
        var operation = Guid.NewGuid();
        stream.AppendOne(new VmIsolationResolved(admin.UserId(), admin.Identity?.Name ?? "", now));
        session.Insert(NewCommand(operation, vm.Id, vm.HostId, new VmCommand(operation, vm.Id, VmVerb.Configure, SpecOf(vm)), now));
        audit.Add(session, admin, AuditKind.IsolationAlert, $"Resolved '{vm.Name}': its host was sent the portal's record again (label {vm.Label}, uid {vm.Uid}); the alert was: {vm.IsolationAlert}", vm.Id);
        await SaveAndSendAsync(session, vm, ct);
    }

    /// <summary>Saves what was decided for the VM (a concurrent change refuses it), then sends its commands and tells the pages.</summary>
    private async Task SaveAndSendAsync(IDocumentSession session, Vm vm, CancellationToken ct)
    {
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new RefusedException("The VM changed meanwhile; look at it and try again.");
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

    /// <summary>The VM's spec as its host is sent it: with the root ports the host reported for its devices.</summary>
    public static VmSpec SpecOf(Vm vm) => Paddock.Engine.Qemu.DeviceLayout.WithRecorded(BareSpecOf(vm), vm.DevicePorts);

    private static VmSpec BareSpecOf(Vm vm) => new(
        vm.Id,
        vm.VCpus,
        VmHardware.MaxVCpusOf(vm),
        vm.MemoryMiB,
        vm.MachineType,
        vm.Uid,
        [new DiskSpec("disk0", vm.DiskBytes, vm.BaseImage.Length == 0 ? null : vm.BaseImage), .. vm.ExtraDisks.Select(d => new DiskSpec(d.Id, d.SizeBytes, null))],
        [new NicSpec("net0", vm.Mac) { Network = vm.Network }, .. vm.ExtraNics.Select(n => new NicSpec(n.Id, n.Mac) { Network = n.Network })])
    {
        ShutdownTimeoutSeconds = vm.Settings.ShutdownTimeoutSeconds,
        Restart = vm.Settings.Restart,
        MaxRestartsPerHour = vm.Settings.MaxRestartsPerHour,
        Cdroms = [new CdromSpec("cd0", vm.Cdrom)],
        BootOrder = vm.Settings.BootDevices,
        Limits = vm.Limits,
        BalloonTargetMiB = vm.BalloonTargetMiB,
        Label = vm.Label,
        CloudInit = vm.CloudInit,
        GuestAgent = vm.GuestAgent,
    };

    private static AgentCommand NewCommand(Guid operation, Guid vmId, Guid hostId, VmCommand command, DateTimeOffset now) => new()
    {
        Id = operation,
        VmId = vmId,
        HostId = hostId,
        Command = command,
        State = AgentCommandState.Pending,
        CreatedAt = now,
        TraceParent = PortalTracing.Current,
    };

    private static string RandomMac() => VmHardware.RandomMac();

    private static void Check(string? problem, string field)
    {
        if (problem is not null)
        {
            throw new RefusedException(problem, field);
        }
    }

    private static RefusedException NameTaken(string name) => new($"Name: you already have a VM called '{name}'.", "name");
}
