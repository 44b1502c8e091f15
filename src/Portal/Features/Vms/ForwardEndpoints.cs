using Marten;
using Paddock.Portal.Features.Networks;

namespace Paddock.Portal.Features.Vms;

/// <summary>A VM's port forwards in the API: <c>GET</c> and <c>POST /api/vms/{id}/forwards</c>, <c>DELETE /api/vms/{id}/forwards/{forwardId}</c>.</summary>
public static class ForwardEndpoints
{
    public static void MapForwardEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/{id:guid}/forwards", (Guid id, HttpContext http, IDocumentStore store) => VmEndpoints.AnswerAsync(async () =>
        {
            await using var session = store.QuerySession();
            return Results.Ok(await VmForwards.ListAsync(session, http.User, id, http.RequestAborted));
        })).WithSummary("The VM's port forwards, each with the address to connect to.").Produces<IReadOnlyList<ForwardView>>();

        api.MapPost("/{id:guid}/forwards", (Guid id, NewForward request, HttpContext http, VmForwards forwards, IDocumentStore store) => AnswerAsync(async () =>
        {
            var forwardId = await forwards.AddAsync(http.User, id, request, http.RequestAborted);
            await using var session = store.QuerySession();
            return Results.Created($"/api/vms/{id}/forwards/{forwardId}",
                (await ForwardService.ListAsync(session, id, http.RequestAborted)).FirstOrDefault(f => f.Id == forwardId));
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Forwards a host port to a port of the VM's NIC.").Produces<ForwardView>(201);

        api.MapDelete("/{id:guid}/forwards/{forwardId:guid}", (Guid id, Guid forwardId, HttpContext http, VmForwards forwards) => AnswerAsync(async () =>
        {
            await forwards.DeleteAsync(http.User, id, forwardId, http.RequestAborted);
            return Results.NoContent();
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Removes a port forward.").Produces(204);
    }

    private static Task<IResult> AnswerAsync(Func<Task<IResult>> call) =>
        VmEndpoints.AnswerAsync(() => ApiAnswers.AnswerAsync<ForwardNotFoundException>(call, "No such port forward."));
}
