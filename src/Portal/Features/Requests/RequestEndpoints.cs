using Marten;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Requests;

/// <summary>A request to submit: a new VM, or a lease (minutes from approval; null for no end) for an existing VM.</summary>
public sealed record RequestBody(string? Justification, NewVm? Vm = null, Guid? VmId = null, int? LeaseMinutes = null);

public sealed record ApproveBody(bool RaiseQuota = false, string? Comment = null);

public sealed record RejectBody(string? Reason);

/// <summary>A request as the API shows it.</summary>
public sealed record RequestView(
    Guid Id, string Kind, string State, string Requester, string Summary, NewVm? Vm, Guid? VmId, int? LeaseMinutes, string Justification,
    IReadOnlyList<string> Reasons, DateTimeOffset SubmittedAt, DateTimeOffset? DecidedAt, string? DecidedBy, string? Decision, bool QuotaRaised,
    IReadOnlyList<RequestStep> Timeline)
{
    public static RequestView Of(VmRequest r) => new(
        r.Id, r.Kind.ToString(), r.State.ToString(), r.RequesterName, r.Summary, r.Vm, r.VmId, r.LeaseMinutes, r.Justification,
        r.Reasons, r.SubmittedAt, r.DecidedAt, r.DecidedBy, r.Decision, r.QuotaRaised, r.Timeline);
}

public static class RequestEndpoints
{
    public static void MapRequestEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/requests").RequireAuthorization().WithTags("Requests");

        api.MapGet("/", async (int? limit, Guid? after, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await ListPages.AnswerAsync(http, RequestService.Visible(session, http.User), r => r.Id, RequestView.Of, limit, after,
                async () => (await RequestService.ListAsync(session, http.User, http.RequestAborted)).Select(RequestView.Of));
        }).WithSummary("Your requests; for admins, everyone's (a page at a time with limit and after).").Produces<IEnumerable<RequestView>>();

        api.MapGet("/{id:guid}", async (Guid id, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await RequestService.FindAsync(session, http.User, id, http.RequestAborted) is { } request ? Results.Ok(RequestView.Of(request)) : NotFound();
        }).WithSummary("One request, with its timeline.").Produces<RequestView>();

        api.MapPost("/", async (RequestBody body, HttpContext http, RequestService requests) =>
        {
            try
            {
                var id = body switch
                {
                    { Vm: { } vm, VmId: null } => await requests.SubmitVmAsync(http.User, vm, body.Justification, http.RequestAborted),
                    { Vm: null, VmId: { } vmId } => await requests.SubmitLeaseAsync(http.User, vmId, body.LeaseMinutes, body.Justification, http.RequestAborted),
                    _ => throw new RefusedException("Give either vm (a new VM) or vmId (a lease for it).", "vm"),
                };
                return Results.Created($"/api/requests/{id}", new IdAnswer(id));
            }
            catch (VmNotFoundException)
            {
                return Results.Problem(statusCode: 404, title: "No such VM.");
            }
            catch (RefusedException e)
            {
                return ApiAnswers.Refused(e);
            }
        }).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Asks an admin for a VM beyond your quota or policy (vm), or for a longer lease (vmId).").Produces<IdAnswer>(201);

        api.MapPost("/{id:guid}/approve", (Guid id, ApproveBody body, HttpContext http, RequestService requests) =>
            DoAsync(() => requests.ApproveAsync(http.User, id, body.RaiseQuota, body.Comment, http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: approves a request (raiseQuota lifts the quota by what it needs).").Produces<IdAnswer>();

        api.MapPost("/{id:guid}/reject", (Guid id, RejectBody body, HttpContext http, RequestService requests) =>
            DoAsync(() => requests.RejectAsync(http.User, id, body.Reason, http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: rejects a request, with the reason.").Produces<IdAnswer>();

        api.MapPost("/{id:guid}/withdraw", (Guid id, HttpContext http, RequestService requests) =>
            DoAsync(() => requests.WithdrawAsync(http.User, id, http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Withdraws your pending request.").Produces<IdAnswer>();
    }

    private static async Task<IResult> DoAsync(Func<Task> decide, Guid id)
    {
        try
        {
            await decide();
            return Results.Ok(new IdAnswer(id));
        }
        catch (RequestNotFoundException)
        {
            return NotFound();
        }
        catch (RefusedException e)
        {
            return ApiAnswers.Refused(e);
        }
    }

    private static IResult NotFound() => Results.Problem(statusCode: 404, title: "No such request.");
}
