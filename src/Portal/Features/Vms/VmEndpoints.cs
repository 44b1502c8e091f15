using Marten;
using Paddock.Portal.Features.Accounts;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms;

public sealed record SnapshotRequest(string Name);

public sealed record CloneRequest(string Name);

/// <summary>The group to share the VM with, or null for none.</summary>
public sealed record GroupRequest(Guid? GroupId);

/// <summary>The ISO to put into the CD-ROM drive, or null to eject.</summary>
public sealed record CdromRequest(Guid? ImageId);

/// <summary>The VM's lease from now, in minutes; null for no end.</summary>
public sealed record LeaseRequest(int? LeaseMinutes);

/// <summary>One of the console menu's key combinations, by its name (for example "Ctrl-Alt-F2").</summary>
public sealed record KeysRequest(string Combination);

/// <summary>A VM as the API shows it: the same words as the pages.</summary>
public sealed record VmView(
    Guid Id, string Name, string Status, string? PendingOperation, string? LastError, int VCpus, int MemoryMiB, string Template,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, long? SavedBytes, IReadOnlyList<VmSnapshot> Snapshots, string? CurrentSnapshot,
    Guid? TemplateId, long DiskBytes, long? DiskAllocatedBytes, string? Cdrom, VmSettings Settings,
    int MaxVCpus, IReadOnlyList<VmDisk> ExtraDisks, IReadOnlyList<VmNic> ExtraNics, string Mac, Guid? GroupId,
    DateTimeOffset? ExpiresAt, DateTimeOffset? ExpiredAt, string? Flavor, Paddock.Engine.Vms.ResourceLimits Limits, string? LimitsNote, int? BalloonTargetMiB,
    bool StartHeld)
{
    public static VmView Of(Vm vm) => new(
        vm.Id, vm.Name, vm.Status.ToString(), vm.PendingVerb?.ToString(), vm.LastError, vm.VCpus, vm.MemoryMiB, vm.TemplateName,
        vm.CreatedAt, vm.UpdatedAt, vm.SavedBytes, vm.Snapshots, vm.CurrentSnapshot, vm.TemplateId, vm.DiskBytes, vm.DiskAllocatedBytes, vm.CdromName, vm.Settings,
        VmHardware.MaxVCpusOf(vm), vm.ExtraDisks, vm.ExtraNics, vm.Mac, vm.GroupId,
        vm.ExpiresAt, vm.ExpiredAt, vm.FlavorName, vm.Limits, vm.LimitsNote, vm.BalloonTargetMiB,
        vm.IsolationAlert is not null);
}

/// <summary>
/// The VM API, for scripts and benchmarks; the pages call <see cref="VmService"/> directly.
/// Mutating calls need the <c>X-Paddock-Api</c> header: a cross-site form cannot set it, and a
/// cross-site script cannot send it without a CORS preflight the portal never grants.
/// </summary>
public static class VmEndpoints
{
    public const string ApiHeader = "X-Paddock-Api";

    public static void MapVmEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/vms").RequireAuthorization();

        api.MapGet("/", async (HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return (await VmService.ListAsync(session, http.User, http.RequestAborted)).Select(VmView.Of);
        });

        api.MapGet("/{id:guid}", async (Guid id, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await VmService.FindAsync(session, http.User, id, http.RequestAborted) is { } vm ? Results.Ok(VmView.Of(vm)) : NotFound();
        });

        api.MapPost("/", async (NewVm request, HttpContext http, VmService vms) =>
        {
            try
            {
                var id = await vms.CreateAsync(http.User, request, http.RequestAborted);
                return Results.Created($"/api/vms/{id}", new { id });
            }
            catch (Placement.NoHostException e) when (http.User.IsAdmin())
            {
                // Admins see why each host was passed over; members read the sentence.
                return Results.Problem(statusCode: 409, title: e.Message, detail: e.Detail, extensions: new Dictionary<string, object?> { ["passedOver"] = e.Decision.PassedOver });
            }
            catch (VmRequestException e)
            {
                return Refused(e, request);
            }
        }).AddEndpointFilter(RequireApiHeader);

        api.MapGet("/{id:guid}/tasks", async (Guid id, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await VmService.FindAsync(session, http.User, id, http.RequestAborted) is { } vm
                ? Results.Ok(await VmTasks.LoadAsync(session, vm.Id, http.RequestAborted))
                : NotFound();
        });

        api.MapPost("/{id:guid}/{verb}", (Guid id, string verb, HttpContext http, VmService vms) =>
            Enum.TryParse<VmVerb>(verb, ignoreCase: true, out var parsed) && parsed is not (VmVerb.Create or VmVerb.SendKeys or VmVerb.Configure or VmVerb.Snapshot or VmVerb.RevertSnapshot or VmVerb.DeleteSnapshot or VmVerb.ConvertToTemplate or VmVerb.ChangeMedium or VmVerb.ChangeHardware)
                ? Do(() => vms.RequestAsync(http.User, id, parsed, http.RequestAborted), id)
                : Task.FromResult(Results.Problem(statusCode: 404, title: $"No operation '{verb}'. Use start, shutdown, reboot, pause, resume, reset, poweroff or delete.")))
            .AddEndpointFilter(RequireApiHeader);

        api.MapPost("/{id:guid}/isolation/resolve", (Guid id, HttpContext http, VmService vms) =>
            http.User.IsAdmin()
                ? Do(() => vms.ResolveIsolationAsync(http.User, id, http.RequestAborted), id)
                : Task.FromResult(Results.Problem(statusCode: 403, title: "Only admins resolve isolation alerts.")))
            .AddEndpointFilter(RequireApiHeader);

        api.MapPost("/{id:guid}/keys", (Guid id, KeysRequest request, HttpContext http, VmService vms) =>
            Do(() => vms.SendKeysAsync(http.User, id, request.Combination, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapPost("/{id:guid}/snapshots", (Guid id, SnapshotRequest request, HttpContext http, VmService vms) =>
            Do(() => vms.SnapshotAsync(http.User, id, VmVerb.Snapshot, request.Name, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapPost("/{id:guid}/snapshots/{name}/revert", (Guid id, string name, HttpContext http, VmService vms) =>
            Do(() => vms.SnapshotAsync(http.User, id, VmVerb.RevertSnapshot, name, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapDelete("/{id:guid}/snapshots/{name}", (Guid id, string name, HttpContext http, VmService vms) =>
            Do(() => vms.SnapshotAsync(http.User, id, VmVerb.DeleteSnapshot, name, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapPost("/{id:guid}/clone", async (Guid id, CloneRequest request, HttpContext http, VmService vms) =>
        {
            try
            {
                var clone = await vms.CloneAsync(http.User, id, request.Name, http.RequestAborted);
                return Results.Created($"/api/vms/{clone}", new { id = clone });
            }
            catch (VmNotFoundException)
            {
                return NotFound();
            }
            catch (VmRequestException e)
            {
                return Refused(e);
            }
        }).AddEndpointFilter(RequireApiHeader);

        api.MapPost("/{id:guid}/hardware", (Guid id, HardwareChange change, HttpContext http, VmService vms) =>
            Do(() => vms.ChangeHardwareAsync(http.User, id, change, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapPut("/{id:guid}/group", (Guid id, GroupRequest request, HttpContext http, VmService vms) =>
            Do(() => vms.SetGroupAsync(http.User, id, request.GroupId, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapPut("/{id:guid}/cdrom", (Guid id, CdromRequest request, HttpContext http, VmService vms) =>
            Do(() => vms.ChangeMediumAsync(http.User, id, request.ImageId, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapPut("/{id:guid}/lease", (Guid id, LeaseRequest request, HttpContext http, VmService vms) =>
            Do(() => vms.ExtendLeaseAsync(http.User, id, request.LeaseMinutes is { } m ? TimeSpan.FromMinutes(m) : null, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);

        api.MapPut("/{id:guid}/settings", (Guid id, VmSettings settings, HttpContext http, VmService vms) =>
            Do(() => vms.ConfigureAsync(http.User, id, settings, http.RequestAborted), id)).AddEndpointFilter(RequireApiHeader);
    }

    private static async Task<IResult> Do(Func<Task> request, Guid id)
    {
        try
        {
            await request();
            return Results.Accepted($"/api/vms/{id}");
        }
        catch (VmNotFoundException)
        {
            return NotFound();
        }
        catch (VmRequestException e)
        {
            return Refused(e);
        }
    }

    private static IResult NotFound() => Results.Problem(statusCode: 404, title: "No such VM.");

    /// <summary>
    /// A refusal as problem details. Over quota (or needing approval) it is a 409 with every
    /// shortfall by field, and the offer to send the same VM as a request.
    /// </summary>
    public static IResult Refused(VmRequestException e, NewVm? resubmit = null)
    {
        var offer = resubmit is null ? null : new Dictionary<string, object?>
        {
            ["method"] = "POST",
            ["href"] = "/api/requests",
            ["body"] = new { vm = resubmit, justification = "(why you need it)" },
        };
        return e switch
        {
            Quotas.QuotaExceededException q => Results.Problem(statusCode: 409, title: "Over quota: " + e.Message, extensions: new Dictionary<string, object?>
            {
                ["errors"] = q.Shortfalls.GroupBy(s => s.Field).ToDictionary(g => g.Key, g => g.Select(s => s.Message).ToArray()),
                ["shortfalls"] = q.Shortfalls.Select(s => new { resource = s.Resource.ToString(), s.Requested, s.InUse, s.Limit, s.Subject, s.Message }),
                ["submitAsRequest"] = offer,
            }),
            ApprovalNeededException a => Results.Problem(statusCode: 409, title: e.Message, extensions: new Dictionary<string, object?>
            {
                ["reasons"] = a.Reasons,
                ["submitAsRequest"] = offer,
            }),
            { Field: { } field } => Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [e.Message] }, title: e.Message),
            _ => Results.Problem(statusCode: 409, title: e.Message),
        };
    }

    public static async ValueTask<object?> RequireApiHeader(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        context.HttpContext.Request.Headers.ContainsKey(ApiHeader)
            ? await next(context)
            : Results.Problem(statusCode: 400, title: $"Send the {ApiHeader} header with API calls that change things.");
}
