using Paddock.Engine.Contract;

namespace Paddock.Host.Vms.Operations;

/// <summary>Sets a guest user's password, as the crypt hash the portal sent, through the VM's QEMU guest agent.</summary>
public sealed class SetGuestPassword(GuestAgents guests) : IVmOperation
{
    public VmVerb Verb => VmVerb.SetGuestPassword;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        if (command.User is not { Length: > 0 } user || command.Text is not { Length: > 0 } hash)
        {
            throw new InvalidOperationException("Set guest password needs a user and a password hash.");
        }

        await guests.SetPasswordAsync(vm, user, hash, ct);
        return $"The password of {user} was set through the guest agent.";
    }
}
