using MudBlazor;

namespace Paddock.Portal.Features.Vms.Create;

/// <summary>Opens <see cref="CreateVmDialog"/> for the pages of the features below Vms; scoped, as the circuit's dialog service is.</summary>
public sealed class CreateVmDialogLauncher(IDialogService dialogs) : ICreateVmDialog
{
    public async Task<Guid?> ShowAsync(Guid? templateId = null, Guid? imageId = null)
    {
        var parameters = new DialogParameters<CreateVmDialog>();
        if (templateId is { } template)
        {
            parameters.Add(d => d.TemplateId, template);
        }

        if (imageId is { } image)
        {
            parameters.Add(d => d.ImageId, image);
        }

        var dialog = await dialogs.ShowAsync<CreateVmDialog>("New VM", parameters, new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true });
        return await dialog.Result is { Canceled: false, Data: Guid id } ? id : null;
    }
}
