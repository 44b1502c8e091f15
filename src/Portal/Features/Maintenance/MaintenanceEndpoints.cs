using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Maintenance;

/// <summary>
/// Into maintenance or out of it. <paramref name="Evacuate"/> (entering only) moves the running VMs
/// away, <paramref name="Concurrency"/> at a time, and shuts down those in <paramref name="ShutDown"/>;
/// <paramref name="BringBack"/> (leaving only) moves back what the last evacuation moved away.
/// </summary>
public sealed record MaintenanceBody(bool Maintenance, bool Evacuate = false, int? Concurrency = null, IReadOnlyList<Guid>? ShutDown = null, bool BringBack = false);

/// <summary>What an evacuation would do now, and how many VMs it moves at once unless told otherwise.</summary>
public sealed record EvacuationPlanView(
    Guid HostId, string Host, IReadOnlyList<PlannedMove> Moves, IReadOnlyList<BlockedVm> Blocked, IReadOnlyList<StayingVm> Stays, int Concurrency);

/// <summary>One VM of an evacuation as the API shows it; <paramref name="Progress"/> in the page's words.</summary>
public sealed record EvacuatedVmView(Guid Id, string Name, string Intent, string State, int Attempts, string? ToHost, string? Reason, string Progress);

public sealed record EvacuationView(
    Guid HostId, string Host, string Kind, string State, int Concurrency, int Retries, string By, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, string? Note,
    IReadOnlyList<EvacuatedVmView> Vms);

/// <summary>Admins only: maintenance, the evacuation plan, the evacuation under way and calling it off.</summary>
public static class MaintenanceEndpoints
{
    public static void MapMaintenanceEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/hosts").RequireAuthorization().WithTags("Hosts");

        api.MapGet("/{id:guid}/evacuation-plan", async (Guid id, HttpContext http, MaintenanceService maintenance, IOptions<MaintenanceOptions> options) =>
            !http.User.IsAdmin() ? Forbidden()
            : await maintenance.PlanAsync(id, http.RequestAborted) is { } p ? Results.Ok(new EvacuationPlanView(p.HostId, p.Host, p.Moves, p.Blocked, p.Stays, options.Value.Concurrency))
            : NoHost()).WithSummary("Admins: where each VM of the host would go, which cannot move and why.").Produces<EvacuationPlanView>();

        api.MapPut("/{id:guid}/maintenance", (Guid id, MaintenanceBody body, HttpContext http, MaintenanceService maintenance, IDocumentStore store, MigrationBoard board, IOptions<MaintenanceOptions> options) =>
            AdminAsync(http, async () =>
            {
                var started = await SetAsync(http, id, body, maintenance, options.Value);
                return started is null ? Results.NoContent() : Results.Accepted($"/api/hosts/{id}/evacuation", await ViewAsync(store, board, started, http.RequestAborted));
            })).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: enters maintenance (and empties the host with evacuate) or leaves it (and brings back with bringBack).")
            .Produces(204).Produces<EvacuationView>(202);

        api.MapGet("/{id:guid}/evacuation", async (Guid id, HttpContext http, MaintenanceService maintenance, IDocumentStore store, MigrationBoard board) =>
            !http.User.IsAdmin() ? Forbidden()
            : await maintenance.LatestAsync(id, http.RequestAborted) is { } evacuation ? Results.Ok(await ViewAsync(store, board, evacuation, http.RequestAborted))
            : Results.Problem(statusCode: 404, title: "This host has had no evacuation.")).WithSummary("Admins: the host's latest evacuation or bring-back.").Produces<EvacuationView>();

        api.MapPost("/{id:guid}/evacuation/cancel", (Guid id, HttpContext http, MaintenanceService maintenance) =>
            AdminAsync(http, async () =>
            {
                await maintenance.CancelAsync(http.User, id, http.RequestAborted);
                return Results.Accepted($"/api/hosts/{id}/evacuation");
            })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Admins: calls the evacuation off; moves under way finish.").Produces(202);
    }

    /// <summary>Enters or leaves maintenance as the body says; the evacuation or bring-back it started, if one.</summary>
    private static Task<HostEvacuation?> SetAsync(HttpContext http, Guid id, MaintenanceBody body, MaintenanceService maintenance, MaintenanceOptions options)
    {
        if (body.Maintenance && body.BringBack)
        {
            throw new RefusedException("bringBack goes with maintenance: false (leaving maintenance).", "bringBack");
        }

        if (!body.Maintenance && body.Evacuate)
        {
            throw new RefusedException("evacuate goes with maintenance: true (entering maintenance).", "evacuate");
        }

        return body.Maintenance
            ? maintenance.EnterAsync(http.User, id, body.Evacuate ? new EvacuationOrder(body.Concurrency ?? options.Concurrency, body.ShutDown ?? []) : null, http.RequestAborted)
            : maintenance.LeaveAsync(http.User, id, body.BringBack, body.Concurrency, http.RequestAborted);
    }

    /// <summary>The evacuation with each VM's progress: the step and phase of the moves under way.</summary>
    public static async Task<EvacuationView> ViewAsync(IDocumentStore store, MigrationBoard board, HostEvacuation e, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var moving = (await session.LoadManyAsync<Vm>(ct, e.Items.Where(i => i.State == EvacuationItemState.Moving).Select(i => i.VmId))).ToDictionary(v => v.Id);
        return new EvacuationView(e.Id, e.HostName, e.Kind.ToString(), e.State.ToString(), e.Concurrency, e.Retries, e.ByName, e.StartedAt, e.EndedAt, e.Note,
            [.. e.Items.Select(i =>
            {
                var migration = moving.GetValueOrDefault(i.VmId)?.Migration;
                var progress = migration is null ? null : board.Of(i.VmId, migration.Id);
                return new EvacuatedVmView(i.VmId, i.Name, i.Intent.ToString(), i.State.ToString(), i.Attempts, i.ToHost, i.Reason, EvacuationText.Of(i, migration, progress));
            })]);
    }

    private static async Task<IResult> AdminAsync(HttpContext http, Func<Task<IResult>> change)
    {
        if (!http.User.IsAdmin())
        {
            return Forbidden();
        }

        try
        {
            return await change();
        }
        catch (RefusedException e)
        {
            return ApiAnswers.Refused(e);
        }
    }

    private static IResult NoHost() => Results.Problem(statusCode: 404, title: "No such host.");

    private static IResult Forbidden() => Results.Problem(statusCode: 403, title: "Only admins see and change placement.");
}
