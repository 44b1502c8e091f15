using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Hosts;

public static class HostEndpoints
{
    public static void MapHostEndpoints(this IEndpointRouteBuilder app)
    {
        // The one agent route without a credential: the join token is what it checks.
        app.MapPost(EnrollRequest.EnrollPath, async (EnrollRequest request, HostEnrollment enrollment, CancellationToken ct) =>
        {
            try
            {
                var name = request.Name?.Trim() ?? "";
                if (name.Length is 0 or > 100)
                {
                    return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "A host needs a name of 1 to 100 characters.");
                }

                return Results.Ok(new EnrollResponse(await enrollment.EnrollAsync(request.Token ?? "", request.HostId, name, ct)));
            }
            catch (EnrollmentException e)
            {
                return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: e.Message);
            }
            catch (HostIdTakenException e)
            {
                return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: e.Message);
            }
        }).AllowAnonymous();
    }
}
