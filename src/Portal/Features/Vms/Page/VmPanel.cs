using Microsoft.AspNetCore.Components;
using MudBlazor;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms.Page;

/// <summary>
/// A panel of the VM page. It shows the page's last load (<see cref="Model"/>) and raises
/// <see cref="Run"/> for what the viewer does; the page runs it and loads the VM again, which comes
/// back down as a new <see cref="Model"/>. A panel keeps only its own form's state.
/// </summary>
public abstract class VmPanel : ComponentBase
{
    [Parameter, EditorRequired]
    public VmPageModel Model { get; set; } = default!;

    /// <summary>Whether an operation of the page is under way: the controls that start one are disabled meanwhile.</summary>
    [Parameter]
    public bool Busy { get; set; }

    [Parameter]
    public EventCallback<VmPageCall> Run { get; set; }

    [Inject]
    protected VmService Vms { get; set; } = default!;

    [Inject]
    protected IDialogService Dialogs { get; set; } = default!;

    protected Vm Vm => Model.Vm;

    /// <summary>Whether the VM's status and the viewer's rights (<see cref="VmRights"/>) allow <paramref name="verb"/> now.</summary>
    protected bool Allows(VmVerb verb) => !Busy && VmRules.Allows(Vm, verb) && May(VmRights.ActionOf(verb));

    protected bool May(VmAction action) => VmRights.Allows(Model.Role, action);

    /// <summary>Why the viewer may not do <paramref name="action"/>, for the control's tooltip; null when they may.</summary>
    protected string? WhyNot(VmAction action) => VmRights.Refusal(Vm, Model.Role, action);

    /// <summary>
    /// Asks <paramref name="question"/> before something that cannot be undone; true when the viewer
    /// answered <paramref name="yes"/>. <paramref name="no"/> names the other answer where "Cancel" would mislead.
    /// </summary>
    protected async Task<bool> ConfirmAsync(string title, string question, string yes, string no = "Cancel") =>
        await Dialogs.ShowMessageBoxAsync(title, question, yesText: yes, cancelText: no) == true;
}
