using Microsoft.AspNetCore.Components;

namespace Paddock.Portal.Features.Placement;

/// <summary>
/// The Maintenance feature's part of the Capacity page: its dialogs to enter and leave maintenance
/// and the progress of evacuations. Maintenance (above Placement) implements it for the circuit the
/// page runs in, as the circuit's dialog service is.
/// </summary>
public interface IHostMaintenance
{
    /// <summary>Shows what an evacuation of the host would do and puts it in maintenance if the admin confirms; true when it did.</summary>
    Task<bool> EnterAsync(Guid hostId, string hostName);

    /// <summary>Asks whether to bring back the VMs its last evacuation moved away and takes the host out of maintenance if the admin confirms; true when it did.</summary>
    Task<bool> LeaveAsync(Guid hostId, string hostName);

    /// <summary>The evacuations under way and the latest of each host, each VM with its progress.</summary>
    RenderFragment Evacuations { get; }
}
