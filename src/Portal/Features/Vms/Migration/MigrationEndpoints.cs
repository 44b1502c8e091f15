using Marten;
using Paddock.Engine.Recipes;

namespace Paddock.Portal.Features.Vms;

/// <summary>Where to move the VM: a host's id, or null for the host placement picks; optionally a cap on the memory stream, MiB/s.</summary>
public sealed record MigrateBody(Guid? HostId, int? MaxBandwidthMiBps = null);

/// <summary>A migration under way as the API shows it: the step, and the source's latest progress in QEMU's figures.</summary>
public sealed record MigrationView(
    Guid Id, string From, string To, string Step, DateTimeOffset StartedAt, string? Phase, double? DiskPercent,
    long? RamTransferredBytes, long? RamRemainingBytes, long? RamTotalBytes, long? DirtyBytesPerSecond, double? ExpectedDowntimeMs)
{
    public static MigrationView Of(VmMigration m, MigrationProgress? p) => new(
        m.Id, m.FromHost, m.ToHost, m.Step.ToString(), m.StartedAt, p?.Phase.ToString(), p?.DiskPercent,
        p?.RamTransferredBytes, p?.RamRemainingBytes, p?.RamTotalBytes, p?.DirtyBytesPerSecond, p?.ExpectedDowntime?.TotalMilliseconds);
}

/// <summary>
/// Live migration for admins: start one, follow it, call it off; and the meeting point where the two
/// hosts' agents splice their channels (<see cref="MigrationRelay"/>).
/// </summary>
public static class MigrationEndpoints
{
    public static void MapMigrationEndpoints(this IEndpointRouteBuilder app)
    {
        // Admins only, whatever the id: a member learns nothing of which VMs exist.
        var api = app.MapGroup("/api/vms").RequireAuthorization().WithTags("Migration").AddEndpointFilter(async (context, next) =>
            context.HttpContext.User.IsAdmin() ? await next(context) : Results.Problem(statusCode: 403, title: VmRights.Refusal(new Vm(), VmRole.Owner, VmAction.Migrate)));
        api.MapPost("/{id:guid}/migrate", (Guid id, MigrateBody? body, HttpContext http, VmService vms) => VmEndpoints.AnswerAsync(async () =>
        {
            var migration = await vms.MigrateAsync(http.User, id, body?.HostId, http.RequestAborted, body?.MaxBandwidthMiBps);
            return Results.Accepted($"/api/vms/{id}/migration", new IdAnswer(migration));
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: moves a running VM, disks and all, to the chosen host or the one placement picks.").Produces<IdAnswer>(202);

        api.MapPost("/{id:guid}/migration/cancel", (Guid id, HttpContext http, VmService vms) => VmEndpoints.AnswerAsync(async () =>
        {
            await vms.CancelMigrationAsync(http.User, id, http.RequestAborted);
            return Results.Accepted($"/api/vms/{id}/migration");
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Admins: calls a migration off; the VM stays where it was.").Produces(202);

        api.MapGet("/{id:guid}/migration", async (Guid id, HttpContext http, IDocumentStore store, MigrationBoard board) =>
        {
            await using var session = store.QuerySession();
            var (vm, refusal) = await VmRights.FindForAsync(session, http.User, id, VmAction.Migrate, http.RequestAborted);
            return refusal is not null ? Results.Problem(statusCode: 403, title: refusal)
                : vm is null ? NotFound()
                : vm.Migration is { } m ? Results.Ok(MigrationView.Of(m, board.Of(vm.Id, m.Id)))
                : Results.Problem(statusCode: 404, title: "No migration of this VM is under way.");
        }).WithSummary("Admins: the migration under way, with its progress.").Produces<MigrationView>();

        MigrationRelay.Map(app);
    }

    private static IResult NotFound() => Results.Problem(statusCode: 404, title: "No such VM.");
}
