using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms;

/// <summary>Which operation makes sense in which status: small pure functions, refusals a person can read.</summary>
public static class VmRules
{
    /// <summary>Null when <paramref name="verb"/> may run now, otherwise why not.</summary>
    public static string? Refusal(Vm vm, VmVerb verb)
    {
        // Power off is the way out of a hung shutdown, so it may interrupt one.
        var interruptible = verb == VmVerb.PowerOff && vm.PendingVerb == VmVerb.Shutdown;
        if (vm.PendingVerb is { } pending && !interruptible)
        {
            return $"{Describe(pending)} is in progress; wait for it to finish.";
        }

        return verb switch
        {
            VmVerb.Start when vm.Status is not (VmStatus.Stopped or VmStatus.Crashed) =>
                $"Start needs the VM Stopped or Crashed; it is {vm.Status}.",
            VmVerb.Shutdown when vm.Status is not VmStatus.Running =>
                $"Shutdown needs the VM Running; it is {vm.Status}.",
            VmVerb.PowerOff when vm.Status is not (VmStatus.Running or VmStatus.Paused or VmStatus.Starting or VmStatus.ShuttingDown) =>
                $"Power off needs the VM Running, Paused, Starting or Shutting down; it is {vm.Status}.",
            VmVerb.Delete when vm.Status is not (VmStatus.Stopped or VmStatus.Crashed or VmStatus.Unknown) =>
                $"Delete needs the VM Stopped; it is {vm.Status}. Power it off first.",
            VmVerb.Create => "The VM exists already.",
            _ => null,
        };
    }

    public static bool Allows(Vm vm, VmVerb verb) => Refusal(vm, verb) is null;

    /// <summary>The status after the agent reported <paramref name="state"/>: a pending delete wins over what the process does meanwhile.</summary>
    public static VmStatus StatusAfterObservation(Vm vm, VmPowerState state) =>
        vm.PendingVerb == VmVerb.Delete
            ? VmStatus.Deleting
            : state switch
            {
                VmPowerState.Creating => VmStatus.Creating,
                VmPowerState.Stopped => VmStatus.Stopped,
                VmPowerState.Starting => VmStatus.Starting,
                VmPowerState.Running => vm.PendingVerb switch
                {
                    VmVerb.Shutdown => VmStatus.ShuttingDown,
                    VmVerb.PowerOff => VmStatus.Stopping,
                    _ => VmStatus.Running,
                },
                VmPowerState.Paused => VmStatus.Paused,
                VmPowerState.ShuttingDown => VmStatus.ShuttingDown,
                VmPowerState.Crashed => VmStatus.Crashed,
                _ => vm.PendingVerb == VmVerb.Create ? VmStatus.Creating : VmStatus.Unknown,
            };

    public static string Describe(VmVerb verb) => verb switch
    {
        VmVerb.PowerOff => "Power off",
        _ => verb.ToString(),
    };

    public static string Describe(VmStatus status) => status switch
    {
        VmStatus.ShuttingDown => "Shutting down",
        _ => status.ToString(),
    };
}
