namespace Paddock.Portal.Features.Vms;

/// <summary>The create is allowed only with an admin's approval: submit it as a request.</summary>
public sealed class ApprovalNeededException(IReadOnlyList<string> reasons)
    : RefusedException(string.Join(" ", reasons) + " Submit it as a request.")
{
    public IReadOnlyList<string> Reasons { get; } = reasons;

    /// <summary>A 409 with the reasons, and the offer to send the same as a request.</summary>
    public override IResult ToProblem(Dictionary<string, object?>? offer) => Results.Problem(statusCode: 409, title: Message, extensions: new Dictionary<string, object?>
    {
        ["reasons"] = Reasons,
        ["submitAsRequest"] = offer,
    });
}
