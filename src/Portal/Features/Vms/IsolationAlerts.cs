using MudBlazor;

namespace Paddock.Portal.Features.Vms;

/// <summary>The question an admin answers before resolving a VM's isolation alert, the same on every page.</summary>
public static class IsolationAlerts
{
    public static async Task<bool> ConfirmResolveAsync(IDialogService dialogs, Vm vm) =>
        await dialogs.ShowMessageBoxAsync(
            "Resolve the isolation alert?",
            $"Send the host of '{vm.Name}' the portal's record again (label {vm.Label}, uid {vm.Uid}), and let the VM start? If its QEMU runs as another uid now, power it off first, or the alert comes back.",
            yesText: "Resolve", cancelText: "Cancel") == true;
}
