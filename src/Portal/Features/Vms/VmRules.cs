using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;

namespace Paddock.Portal.Features.Vms;

/// <summary>Which operation makes sense in which status: small pure functions, refusals a person can read.</summary>
public static class VmRules
{
    /// <summary>Null when <paramref name="verb"/> may run now, otherwise why not.</summary>
    public static string? Refusal(Vm vm, VmVerb verb)
    {
        if (vm.PendingVerb is { } pending && VerbRules.Occupies(verb) && !VerbRules.Interrupts(verb, pending))
        {
            return $"{Describe(pending)} is in progress; wait for it to finish.";
        }

        if (vm.PendingVerb is VmVerb.Create or VmVerb.Delete && !VerbRules.Occupies(verb))
        {
            return $"{Describe(vm.PendingVerb.Value)} is in progress; wait for it to finish.";
        }

        if (vm.ExpiredAt is not null && verb is VmVerb.Start or VmVerb.Restore or VmVerb.Resume)
        {
            return $"The lease of '{vm.Name}' ended; extend it to {Describe(verb).ToLowerInvariant()} the VM again.";
        }

        if (vm.IsolationAlert is not null && verb is VmVerb.Start or VmVerb.Restore)
        {
            return $"{Describe(verb)} is held: the host's record of this VM's label and uid disagrees with the portal's. An admin was alerted and must resolve it first.";
        }

        var running = vm.Status is VmStatus.Running or VmStatus.ShuttingDown;
        return verb switch
        {
            VmVerb.Start when vm.Status is VmStatus.Saved =>
                "Start needs the VM Stopped or Crashed; it is Saved. Restore it to go on where it was.",
            VmVerb.Start when vm.Status is not (VmStatus.Stopped or VmStatus.Crashed) =>
                $"Start needs the VM Stopped or Crashed; it is {Describe(vm.Status)}.",
            VmVerb.Save when vm.Status is not (VmStatus.Running or VmStatus.Paused) =>
                $"Save needs the VM Running or Paused; it is {Describe(vm.Status)}.",
            VmVerb.Restore when vm.Status is not VmStatus.Saved =>
                $"Restore needs the VM Saved; it is {Describe(vm.Status)}.",
            VmVerb.Shutdown or VmVerb.Reboot or VmVerb.Pause or VmVerb.SetGuestPassword when vm.Status is not VmStatus.Running =>
                $"{Describe(verb)} needs the VM Running; it is {Describe(vm.Status)}.",
            VmVerb.Resume when vm.Status is not VmStatus.Paused =>
                $"Resume needs the VM Paused; it is {Describe(vm.Status)}.",
            VmVerb.Reset or VmVerb.SendKeys or VmVerb.TypeText or VmVerb.StopTyping when !running && vm.Status is not VmStatus.Paused =>
                $"{Describe(verb)} needs the VM Running or Paused; it is {Describe(vm.Status)}.",
            VmVerb.PowerOff when vm.Status is not (VmStatus.Running or VmStatus.Paused or VmStatus.Starting or VmStatus.ShuttingDown) =>
                $"Power off needs the VM Running, Paused, Starting or Shutting down; it is {Describe(vm.Status)}.",
            VmVerb.Delete when vm.Status is not (VmStatus.Stopped or VmStatus.Crashed or VmStatus.Saved or VmStatus.Unknown) =>
                $"Delete needs the VM Stopped; it is {Describe(vm.Status)}. Power it off first.",
            VmVerb.Snapshot or VmVerb.RevertSnapshot or VmVerb.DeleteSnapshot when vm.Status is not (VmStatus.Running or VmStatus.Paused or VmStatus.Stopped) =>
                $"{Describe(verb)} needs the VM Running, Paused or Stopped; it is {Describe(vm.Status)}.",
            VmVerb.ChangeHardware when vm.Status is not (VmStatus.Running or VmStatus.Paused or VmStatus.Stopped) =>
                $"Changing the hardware needs the VM Running, Paused or Stopped; it is {Describe(vm.Status)}.",
            VmVerb.ChangeMedium when vm.Status is not (VmStatus.Running or VmStatus.Paused or VmStatus.Stopped) =>
                $"Changing the CD needs the VM Running, Paused or Stopped; it is {Describe(vm.Status)}.",
            VmVerb.ConvertToTemplate when vm.Status is not VmStatus.Stopped =>
                $"Convert to template needs the VM Stopped; it is {Describe(vm.Status)}.",
            VmVerb.Create => "The VM exists already.",
            _ => null,
        };
    }

    public static bool Allows(Vm vm, VmVerb verb) => Refusal(vm, verb) is null;

    /// <summary>Null when the snapshot operation fits the VM's snapshots, otherwise why not.</summary>
    public static string? SnapshotRefusal(Vm vm, VmVerb verb, string name)
    {
        var existing = vm.Snapshots.FirstOrDefault(s => s.Name == name);
        return verb switch
        {
            VmVerb.Snapshot when existing is not null => $"Snapshot name: '{name}' is taken.",
            VmVerb.RevertSnapshot or VmVerb.DeleteSnapshot when existing is null => $"No snapshot '{name}'.",
            // A snapshot with memory brings back a running guest; one without, powered-off disks.
            VmVerb.RevertSnapshot when existing!.WithMemory && vm.Status is VmStatus.Stopped =>
                $"'{name}' holds the guest's memory: start the VM, then revert.",
            VmVerb.RevertSnapshot when !existing!.WithMemory && vm.Status is not VmStatus.Stopped =>
                $"'{name}' holds only the disks: power the VM off, then revert.",
            _ => null,
        };
    }

    /// <summary>Device state QEMU writes beside the guest's memory when it saves a VM (a generous bound).</summary>
    public const long DeviceStateBytes = 16L * 1024 * 1024;

    /// <summary>
    /// What <paramref name="verb"/> may write as the VM's state on its host, held against the disk quota
    /// while it runs: a save or a snapshot of a running or paused VM writes its memory; null for anything else.
    /// </summary>
    public static long? StateBytes(Vm vm, VmVerb verb) =>
        verb is VmVerb.Save || verb is VmVerb.Snapshot && vm.LastObserved is VmPowerState.Running or VmPowerState.Paused
            ? (vm.MemoryMiB * 1024L * 1024) + DeviceStateBytes
            : null;

    /// <summary>The status after the agent reported <paramref name="state"/>: a pending delete wins over what the process does meanwhile.</summary>
    /// <summary>How far back a host's clock may step before its reports count as new again (rather than freezing the VM's status).</summary>
    public static readonly TimeSpan ClockStepAllowance = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A report its host made before the one the VM shows: two sends crossed (the state of every VM,
    /// read as an operation ended, overtaking that operation's own report) and the older one must not
    /// undo the newer. A clock stepped back further than <see cref="ClockStepAllowance"/> is believed.
    /// </summary>
    public static bool Superseded(Vm vm, DateTimeOffset observedAt) =>
        vm.ObservedAt is { } last && observedAt < last && last - observedAt < ClockStepAllowance;

    public static VmStatus StatusAfterObservation(Vm vm, VmPowerState state) =>
        vm.PendingVerb switch
        {
            VmVerb.Delete => VmStatus.Deleting,
            // The agent removes the VM once its disk is the template's image: gone is the expected end.
            VmVerb.ConvertToTemplate => VmStatus.Converting,
            _ => state switch
            {
                VmPowerState.Creating => VmStatus.Creating,
                VmPowerState.Stopped => VmStatus.Stopped,
                VmPowerState.Starting => vm.PendingVerb == VmVerb.Restore ? VmStatus.Restoring : VmStatus.Starting,
                VmPowerState.Running or VmPowerState.Paused when vm.PendingVerb == VmVerb.MigrateOut => VmStatus.Migrating,
                VmPowerState.Running => vm.PendingVerb switch
                {
                    VmVerb.Shutdown => VmStatus.ShuttingDown,
                    VmVerb.Save => VmStatus.Saving,
                    VmVerb.PowerOff => VmStatus.Stopping,
                    _ => VmStatus.Running,
                },
                VmPowerState.Paused => VmStatus.Paused,
                VmPowerState.ShuttingDown => VmStatus.ShuttingDown,
                VmPowerState.Crashed => VmStatus.Crashed,
                VmPowerState.Saved => VmStatus.Saved,
                _ => vm.PendingVerb == VmVerb.Create ? VmStatus.Creating : VmStatus.Unknown,
            },
        };

    public static string Describe(VmVerb verb) => verb switch
    {
        VmVerb.PowerOff => "Power off",
        VmVerb.SendKeys => "Send keys",
        VmVerb.TypeText => "Type text",
        VmVerb.StopTyping => "Stop typing",
        VmVerb.SetGuestPassword => "Set guest password",
        VmVerb.RevertSnapshot => "Revert to snapshot",
        VmVerb.DeleteSnapshot => "Delete snapshot",
        VmVerb.ConvertToTemplate => "Convert to template",
        VmVerb.ChangeMedium => "Change CD",
        VmVerb.ChangeHardware => "Change hardware",
        VmVerb.MigrateOut => "Migrate",
        VmVerb.MigrateIn => "Receive a migration",
        VmVerb.FinishMigration => "Finish a migration",
        VmVerb.CancelMigration => "Cancel a migration",
        _ => verb.ToString(),
    };

    public static string Describe(VmStatus status) => status switch
    {
        VmStatus.ShuttingDown => "Shutting down",
        _ => status.ToString(),
    };
}
