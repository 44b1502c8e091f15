using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Agents;

/// <summary>Which verbs hold a VM while they run, and which may cut in: the dispatcher sends in this order, and the VMs' rules refuse by it.</summary>
public static class VerbRules
{
    /// <summary>Whether the verb is a task that holds the VM: only one of those at a time.</summary>
    /// <remarks>Typing holds nothing: the VM's other tasks go on while it types, and the agent types one text at a time.</remarks>
    public static bool Occupies(VmVerb verb) => verb is not (VmVerb.SendKeys or VmVerb.Configure or VmVerb.TypeText or VmVerb.StopTyping or VmVerb.SetGuestPassword);

    /// <summary>
    /// Power off and Reset are the way out of a hung guest: they may interrupt a Shutdown or Reboot.
    /// Calling a migration off interrupts the move it calls off.
    /// </summary>
    public static bool Interrupts(VmVerb verb, VmVerb? pending) =>
        (verb is VmVerb.PowerOff or VmVerb.Reset && pending is VmVerb.Shutdown or VmVerb.Reboot)
        || (verb is VmVerb.CancelMigration && pending is VmVerb.MigrateOut);
}
