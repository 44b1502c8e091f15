using Paddock.Engine.Contract;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Vms.Operations;

/// <summary>When an operation was decided, by whom, and the id it goes by (its task's, its agent command's).</summary>
public sealed record OperationStamp(Guid OperationId, Guid By, DateTimeOffset At);

/// <summary>What a handler does once a decide said yes: admit, append, audit and queue for the agent.</summary>
/// <param name="Events">Appended to the VM's stream, <see cref="VmOperationRequested"/> first.</param>
/// <param name="Command">For the VM's agent, queued as an <see cref="Agents.AgentCommand"/>.</param>
/// <param name="Audit">The line for the audit log.</param>
/// <param name="Growth">What the VM grows by on its host (state bytes, more vCPUs or disk): admitted against quotas and the host's ledger before anything is saved.</param>
public sealed record VmDecision(IReadOnlyList<object> Events, VmCommand Command, string Audit, QuotaUsage Growth)
{
    /// <summary>What the task shows for the command's image (the ISO's library name).</summary>
    public string? DisplayName { get; init; }
}

/// <summary>
/// The pure decisions: given the VM as it is and an operation, what to append and what to tell the
/// agent, or a <see cref="RefusedException"/> with a reason a person can read. What a decision needs
/// from elsewhere (an image, the host's walls) its handler loads first and passes in.
/// </summary>
public static class VmDecide
{
    /// <summary>What is wrong with the operation itself, before any VM is looked at; null when nothing is.</summary>
    public static RefusedException? Invalid(VmOperation operation) => operation switch
    {
        SendKeys keys when !VmService.KeyCombinations.ContainsKey(keys.Combination) =>
            new($"Keys: '{keys.Combination}' is not one of {string.Join(", ", VmService.KeyCombinations.Keys)}.", "keys"),
        SetGuestPassword password when GuestPasswordProblem(password) is { } problem => problem,
        TypeText typing when typing.Text is not { Length: > 0 and <= Engine.Qemu.KeyboardLayouts.MaxTextLength } =>
            new(Engine.Qemu.KeyboardLayouts.Problem(typing.Text, Engine.Qemu.KeyboardLayouts.Us) ?? "Text: type something.", "text"),
        SnapshotOperation snapshot when VmService.ValidateSnapshotName(snapshot.Name) is { } problem => new(problem, "name"),
        ConfigureVm configure when VmService.ValidateSettings(configure.Settings) is { } problem => new(problem, "settings"),
        _ => null,
    };

    /// <param name="unconfined">Why the VM's host may not run it (no wall, and no admin allowed that); only start and restore heed it.</param>
    public static VmDecision Simple(Vm vm, SimpleOperation operation, OperationStamp stamp, string? unconfined)
    {
        Refuse(VmRules.Refusal(vm, operation.Verb));
        if (operation.Verb is VmVerb.Start or VmVerb.Restore)
        {
            // The host refuses it too; saying so here spares a task that can only fail.
            Refuse(unconfined);
        }

        return Queue(vm, operation, stamp, new VmCommand(stamp.OperationId, vm.Id, operation.Verb));
    }

    public static VmDecision Keys(Vm vm, SendKeys operation, OperationStamp stamp)
    {
        Refuse(VmRules.Refusal(vm, operation.Verb));
        return Queue(vm, operation, stamp, new VmCommand(stamp.OperationId, vm.Id, operation.Verb, Keys: VmService.KeyCombinations[operation.Combination]));
    }

    /// <summary>The text on the VM's keyboard layout: a character that layout has no key for is refused before anything is typed.</summary>
    public static VmDecision Typing(Vm vm, TypeText operation, OperationStamp stamp)
    {
        Refuse(VmRules.Refusal(vm, operation.Verb));
        if (Engine.Qemu.KeyboardLayouts.Problem(operation.Text, vm.Settings.KeyboardLayout) is { } problem)
        {
            throw new RefusedException(problem, "text");
        }

        var command = new VmCommand(stamp.OperationId, vm.Id, operation.Verb, Text: operation.Text, Layout: vm.Settings.KeyboardLayout);
        // The audit says how much, never what: a typed text may be a password.
        return Queue(vm, operation, stamp, command, $"{operation.Text.Length} characters");
    }

    /// <summary>Only for a guest with the guest agent; the agent is sent the password's hash, the audit names only the user.</summary>
    public static VmDecision GuestPassword(Vm vm, SetGuestPassword operation, OperationStamp stamp)
    {
        Refuse(vm.GuestAgent ? VmRules.Refusal(vm, operation.Verb) : $"'{vm.Name}' has no guest agent: set the password in the guest.");
        var hash = Engine.Guests.Sha512Crypt.HashWithRandomSalt(operation.Password);
        var command = new VmCommand(stamp.OperationId, vm.Id, operation.Verb, Text: hash, User: operation.User.Trim());
        return Queue(vm, operation, stamp, command, $"user {operation.User.Trim()}");
    }

    private static RefusedException? GuestPasswordProblem(SetGuestPassword operation)
    {
        try
        {
            Engine.Guests.CloudInitRules.CheckUserName(operation.User?.Trim() ?? "");
        }
        catch (Engine.Guests.InvalidCloudInitException e)
        {
            return new(e.Message, "user");
        }

        return operation.Password is { Length: >= GuestSetup.MinPasswordLength and <= GuestSetup.MaxPasswordLength }
            ? null
            : new($"Password: {GuestSetup.MinPasswordLength} to {GuestSetup.MaxPasswordLength} characters.", "password");
    }

    /// <summary>
    /// The guest's new cloud-init setup, a revision on: what is left out keeps its value (the password
    /// hash, the user-data and network-config when not sent; an empty one removes them). It takes
    /// effect at the next boot, when the host makes the seed again.
    /// </summary>
    public static VmDecision Guest(Vm vm, ConfigureGuest operation, OperationStamp stamp, IReadOnlyList<string> profileKeys)
    {
        Refuse(VmRules.Refusal(vm, operation.Verb));
        var old = vm.CloudInit ?? throw new RefusedException($"'{vm.Name}' does not read cloud-init: its guest has nothing to set up.", "guest");
        var setup = operation.Setup with
        {
            PasswordHash = operation.Setup.Password is null ? operation.Setup.PasswordHash ?? old.PasswordHash : null,
            UserData = operation.Setup.UserData ?? old.UserData,
            NetworkConfig = operation.Setup.NetworkConfig ?? old.NetworkConfig,
        };
        var config = setup.ToConfig(vm.Name, profileKeys) with { Revision = old.Revision + 1 };
        var spec = VmService.SpecOf(vm) with { CloudInit = config };
        return Queue(vm, operation, stamp, new VmCommand(stamp.OperationId, vm.Id, operation.Verb, spec),
            "guest setup", more: new VmGuestSetupChanged(config, stamp.By, stamp.At));
    }

    public static VmDecision Snapshot(Vm vm, SnapshotOperation operation, OperationStamp stamp)
    {
        if ((VmRules.Refusal(vm, operation.Verb) ?? VmRules.SnapshotRefusal(vm, operation.Verb, operation.Name)) is { } refusal)
        {
            throw new RefusedException(refusal, refusal.StartsWith("Snapshot name", StringComparison.Ordinal) ? "name" : null);
        }

        return Queue(vm, operation, stamp, new VmCommand(stamp.OperationId, vm.Id, operation.Verb, Snapshot: operation.Name), operation.Name);
    }

    /// <param name="image">The library ISO the operation names, found for its caller; null to eject.</param>
    public static VmDecision Medium(Vm vm, ChangeMedium operation, OperationStamp stamp, LibraryImage? image)
    {
        Refuse(VmRules.Refusal(vm, operation.Verb));
        return Queue(vm, operation, stamp, new VmCommand(stamp.OperationId, vm.Id, operation.Verb, Image: image?.FileName)) with { DisplayName = image?.Name };
    }

    /// <summary>The VM with the change applied; more vCPUs or disk must fit the quotas and the host, admitted with it.</summary>
    public static VmDecision Hardware(Vm vm, ChangeHardware operation, OperationStamp stamp)
    {
        var spec = VmHardware.Apply(vm, VmService.SpecOf(vm), operation.Change);
        Refuse(VmRules.Refusal(vm, operation.Verb));
        var decision = Queue(vm, operation, stamp, new VmCommand(stamp.OperationId, vm.Id, operation.Verb, spec),
            more: new VmHardwareRequested(stamp.OperationId, spec.VCpus, spec.Disks.Sum(d => d.SizeBytes), stamp.At));
        return decision with { Growth = Growth(QuotaService.UsageOf(vm), UsageOf(vm, spec)) };
    }

    public static VmDecision Settings(Vm vm, ConfigureVm operation, OperationStamp stamp)
    {
        Refuse(VmRules.Refusal(vm, operation.Verb));
        var settings = operation.Settings;
        if (settings.BootOrder != vm.Settings.BootOrder && vm.Status is not VmStatus.Stopped)
        {
            throw new RefusedException($"Boot order: change it while the VM is Stopped; it is {VmRules.Describe(vm.Status)}.");
        }

        var spec = VmService.SpecOf(vm) with
        {
            ShutdownTimeoutSeconds = settings.ShutdownTimeoutSeconds,
            Restart = settings.Restart,
            MaxRestartsPerHour = settings.MaxRestartsPerHour,
            BootOrder = settings.BootDevices,
        };
        return Queue(vm, operation, stamp, new VmCommand(stamp.OperationId, vm.Id, operation.Verb, spec),
            more: new VmSettingsChanged(settings, stamp.By, stamp.At));
    }

    /// <summary>What a VM with <paramref name="spec"/> counts against quotas (its states as they are).</summary>
    public static QuotaUsage UsageOf(Vm vm, VmSpec spec) =>
        QuotaUsage.OneVm(spec.VCpus, vm.MemoryMiB, spec.Disks.Sum(d => d.SizeBytes) + Vm.StateBytesOf(vm));

    /// <summary>What a VM grows by, resource by resource; shrinking frees nothing until it is done.</summary>
    public static QuotaUsage Growth(QuotaUsage before, QuotaUsage after) => new(
        0, Math.Max(0, after.VCpus - before.VCpus), Math.Max(0, after.MemoryMiB - before.MemoryMiB), Math.Max(0, after.DiskMiB - before.DiskMiB));

    /// <summary>
    /// The operation asked for and its command. A save or a snapshot's memory is disk on the host
    /// (<see cref="VmRules.StateBytes"/>): it must fit as a disk would.
    /// </summary>
    private static VmDecision Queue(Vm vm, VmOperation operation, OperationStamp stamp, VmCommand command, string? detail = null, object? more = null)
    {
        var state = VmRules.StateBytes(vm, operation.Verb);
        var requested = new VmOperationRequested(stamp.OperationId, operation.Verb, stamp.By, stamp.At, state);
        return new VmDecision(
            more is null ? [requested] : [requested, more],
            command,
            $"{VmRules.Describe(operation.Verb)} '{vm.Name}'{(detail is null ? "" : $" ({detail})")}",
            state is { } bytes ? new QuotaUsage(0, 0, 0, QuotaUsage.MiB(bytes)) : QuotaUsage.Zero);
    }

    private static void Refuse(string? refusal)
    {
        if (refusal is not null)
        {
            throw new RefusedException(refusal);
        }
    }
}
