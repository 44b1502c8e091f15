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

        // What the Hosts page's Add host and `hosts join-token` make, for an admin's script.
        app.MapPost("/api/hosts/join-tokens", async (JoinTokenRequest request, HttpContext http, HostEnrollment enrollment) =>
        {
            if (!http.User.IsAdmin())
            {
                return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only admins let hosts join.");
            }

            try
            {
                var validity = request.ValidForMinutes is { } minutes ? TimeSpan.FromMinutes(minutes) : HostEnrollment.DefaultValidity;
                return Results.Created("/admin/hosts", await enrollment.IssueAsync(http.User, request.Note, validity, http.RequestAborted));
            }
            catch (EnrollmentException e)
            {
                return ApiAnswers.Invalid(e.Field ?? "token", e.Message);
            }
        }).RequireAuthorization().AddEndpointFilter(ApiAnswers.RequireApiHeader).WithTags("Hosts")
            .WithSummary("Admins: a one-time join token for a new host, shown whole only in this answer.").Produces<JoinTokenIssued>(StatusCodes.Status201Created);
    }
}

/// <summary>A join token for one new host: a note for the Hosts page, and how long it may wait to be used (24 hours unless told).</summary>
public sealed record JoinTokenRequest(string? Note, int? ValidForMinutes);
