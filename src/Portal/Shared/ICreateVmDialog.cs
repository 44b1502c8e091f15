namespace Paddock.Portal.Shared;

/// <summary>
/// Opens the Vms feature's create dialog from a page below it (a template's or an image's
/// "New VM"), for the circuit the page runs in. Vms implements it.
/// </summary>
public interface ICreateVmDialog
{
    /// <summary>The id of the VM made, or null when the dialog was cancelled or sent a request instead.</summary>
    Task<Guid?> ShowAsync(Guid? templateId = null, Guid? imageId = null);
}
