using Paddock.Engine.Guests;

namespace Paddock.Portal.Features.Vms;

/// <summary>What the VM's guest is set up with (cloud-init) and runs (the QEMU guest agent).</summary>
public sealed partial class Vm
{
    /// <summary>The guest's cloud-init setup, on the seed its host makes before each start; null for none. It may hold secrets: shown to nobody.</summary>
    public CloudInitConfig? CloudInit { get; set; }

    /// <summary>Whether the guest runs the QEMU guest agent (its template's say).</summary>
    public bool GuestAgent { get; set; }

    public void Apply(VmGuestSetupChanged e)
    {
        CloudInit = e.CloudInit;
        UpdatedAt = e.At;
    }
}
