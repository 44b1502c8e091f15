using System.Security.Claims;

namespace Paddock.Portal.Features.Vms.Page;

/// <summary>
/// What a panel asks the VM page to do. The page makes <see cref="Call"/> as the viewer under its
/// busy flag (one operation at a time, against double clicks), says a refusal in a snackbar unless
/// <see cref="ShowRefusal"/> takes it, and reads the VM again afterwards, whatever the outcome.
/// </summary>
/// <param name="Call">The call to <see cref="VmService"/> (or another service), given the signed-in viewer.</param>
public sealed record VmPageCall(Func<ClaimsPrincipal, Task> Call)
{
    /// <summary>Runs once the call went through: a snackbar that says so, a form cleared.</summary>
    public Action? Then { get; init; }

    /// <summary>Shows a refusal in the panel, beside the field it names, and says true; false leaves it to the page.</summary>
    public Func<RefusedException, bool> ShowRefusal { get; init; } = _ => false;
}
