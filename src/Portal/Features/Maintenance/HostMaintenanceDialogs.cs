using Microsoft.AspNetCore.Components;
using MudBlazor;
using Paddock.Portal.Features.Placement;

namespace Paddock.Portal.Features.Maintenance;

/// <summary>Opens the maintenance dialogs for the Capacity page and renders its evacuations panel; scoped, as the circuit's dialog service is.</summary>
public sealed class HostMaintenanceDialogs(IDialogService dialogs) : IHostMaintenance
{
    public Task<bool> EnterAsync(Guid hostId, string hostName) =>
        ShowAsync<EnterMaintenanceDialog>($"Enter maintenance on {hostName}", new() { [nameof(EnterMaintenanceDialog.HostId)] = hostId, [nameof(EnterMaintenanceDialog.HostName)] = hostName });

    public Task<bool> LeaveAsync(Guid hostId, string hostName) =>
        ShowAsync<LeaveMaintenanceDialog>($"Leave maintenance on {hostName}", new() { [nameof(LeaveMaintenanceDialog.HostId)] = hostId, [nameof(LeaveMaintenanceDialog.HostName)] = hostName });

    public RenderFragment Evacuations { get; } = builder =>
    {
        builder.OpenComponent<EvacuationsPanel>(0);
        builder.CloseComponent();
    };

    private async Task<bool> ShowAsync<TDialog>(string title, DialogParameters parameters) where TDialog : IComponent
    {
        var dialog = await dialogs.ShowAsync<TDialog>(title, parameters, new DialogOptions { MaxWidth = MaxWidth.Medium, FullWidth = true });
        return await dialog.Result is { Canceled: false };
    }
}
