using System.Diagnostics.CodeAnalysis;

namespace Paddock.Portal.Shared;

/// <summary>
/// An operation, or an approval request, that cannot be carried out; <see cref="Field"/> names the
/// input at fault, if one is. The refusals of VMs, quotas, placement, flavors, policy and requests
/// are all one of these, so that every API answers them alike.
/// </summary>
public class RefusedException(string message, string? field = null) : Exception(message)
{
    public string? Field { get; } = field;

    /// <summary>
    /// The problem details a program gets: the field at fault as a validation problem (422), otherwise a
    /// 409. <paramref name="offer"/> says how to send the same as a request; the refusals an admin
    /// can lift (over quota, approval needed) pass it on.
    /// </summary>
    public virtual IResult ToProblem(Dictionary<string, object?>? offer) =>
        Field is { } field
            ? ApiAnswers.Invalid(field, Message)
            : Results.Problem(statusCode: 409, title: Message);
}

/// <summary>An answer that names an object by its id: a create's new object (201, or 202 when it goes on in the background), a decision's request.</summary>
public sealed record IdAnswer(Guid Id);

/// <summary>What an operation asked of a VM answers (202): its task's id; the Location header names the task.</summary>
public sealed record OperationAccepted(Guid OperationId);

/// <summary>
/// What every API answers alike. Mutating calls need the <c>X-Paddock-Api</c> header: a cross-site
/// form cannot set it, and a cross-site script cannot send it without a CORS preflight the portal
/// never grants.
/// </summary>
public static class ApiAnswers
{
    public const string ApiHeader = "X-Paddock-Api";

    /// <summary>
    /// A request that was read but names a value that cannot be: 422 with the field and what is wrong
    /// with it. A request that cannot even be read (not JSON, a number that is not one, no API header) is 400.
    /// </summary>
    public static IResult Invalid(string field, string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: message, statusCode: StatusCodes.Status422UnprocessableEntity);

    /// <summary>A refusal as problem details; <paramref name="resubmit"/> is what could be sent again as a request for an admin.</summary>
    public static IResult Refused(RefusedException e, object? resubmit = null) => e.ToProblem(resubmit is null ? null : new Dictionary<string, object?>
    {
        ["method"] = "POST",
        ["href"] = "/api/requests",
        ["body"] = new { vm = resubmit, justification = "(why you need it)" },
    });

    /// <summary>A call's own answer; 404 with <paramref name="notFound"/> for an object the caller does not see (<typeparamref name="TNotFound"/>); a refusal's problem details.</summary>
    public static async Task<IResult> AnswerAsync<TNotFound>(Func<Task<IResult>> call, string notFound)
        where TNotFound : Exception
    {
        try
        {
            return await call();
        }
        catch (TNotFound)
        {
            return Results.Problem(statusCode: 404, title: notFound);
        }
        catch (RefusedException e)
        {
            return Refused(e);
        }
    }

    [SuppressMessage("Style", "IDE1006", Justification = "Named for the rule it is: .AddEndpointFilter(ApiAnswers.RequireApiHeader).")]
    public static async ValueTask<object?> RequireApiHeader(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        context.HttpContext.Request.Headers.ContainsKey(ApiHeader) || context.HttpContext.User.TokenName() is not null
            ? await next(context)
            : Results.Problem(statusCode: 400, title: $"Send the {ApiHeader} header with API calls that change things.");
}
