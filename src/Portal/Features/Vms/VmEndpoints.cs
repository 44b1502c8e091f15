using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms.Operations;

namespace Paddock.Portal.Features.Vms;

public sealed record SnapshotBody(string Name);

public sealed record CloneBody(string Name);

/// <summary>The template the VM becomes.</summary>
public sealed record ConvertBody(string Name, string? Description);

/// <summary>The group to share the VM with, or null for none.</summary>
public sealed record GroupBody(Guid? GroupId);

/// <summary>The ISO to put into the CD-ROM drive, or null to eject.</summary>
public sealed record CdromBody(Guid? ImageId);

/// <summary>The VM's lease from now, in minutes; null for no end, 0 to end it now.</summary>
public sealed record LeaseBody(int? LeaseMinutes);

/// <summary>One of the console menu's key combinations, by its name (for example "Ctrl-Alt-F2").</summary>
public sealed record KeysBody(string Combination);

/// <summary>A guest user and the password to give them (through the guest agent; hashed before it leaves the portal).</summary>
public sealed record GuestPasswordBody(string User, string Password);

/// <summary>Text to type into the VM's keyboard (at most 2,000 characters; line ends press Return).</summary>
public sealed record TypeBody(string Text);

/// <summary>
/// A VM as the API shows it: the same words as the pages. <c>StateBytes</c> is what its saved state and snapshots' memory take (counted as disk).
/// <c>StatusDetail</c> is its host's word on the status, when it has one (why it crashed, why QEMU paused it).
/// </summary>
public sealed record VmView(
    Guid Id, string Name, string Status, string? PendingOperation, string? LastError, int VCpus, int MemoryMiB, string Template,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, long? SavedBytes, IReadOnlyList<VmSnapshot> Snapshots, string? CurrentSnapshot,
    Guid? TemplateId, long DiskBytes, long? DiskAllocatedBytes, string? Cdrom, VmSettings Settings,
    int MaxVCpus, IReadOnlyList<VmDisk> ExtraDisks, IReadOnlyList<VmNic> ExtraNics, string Mac, Guid? GroupId,
    DateTimeOffset? ExpiresAt, DateTimeOffset? ExpiredAt, string? Flavor, Paddock.Engine.Vms.ResourceLimits Limits, string? LimitsNote, int? BalloonTargetMiB,
    bool StartHeld, long StateBytes, IReadOnlyList<VmNicView> Nics, string? Address, string? StatusDetail)
{
    public static VmView Of(Vm vm) => new(
        vm.Id, vm.Name, vm.Status.ToString(), vm.PendingVerb?.ToString(), vm.LastError, vm.VCpus, vm.MemoryMiB, vm.TemplateName,
        vm.CreatedAt, vm.UpdatedAt, vm.SavedBytes, vm.Snapshots, vm.CurrentSnapshot, vm.TemplateId, vm.DiskBytes, vm.DiskAllocatedBytes, vm.CdromName, vm.Settings,
        VmHardware.MaxVCpusOf(vm), vm.ExtraDisks, vm.ExtraNics, vm.Mac, vm.GroupId,
        vm.ExpiresAt, vm.ExpiredAt, vm.FlavorName, vm.Limits, vm.LimitsNote, vm.BalloonTargetMiB,
        vm.IsolationAlert is not null, Vm.StateBytesOf(vm), NicsOf(vm), NicsOf(vm).Select(n => n.Address).FirstOrDefault(a => a is not null), vm.StatusDetail);

    private static IReadOnlyList<VmNicView> NicsOf(Vm vm) =>
        [.. VmService.SpecOf(vm).Nics.Select(n => new VmNicView(n.Id, n.Mac, n.Network?.Network.Id, n.Network?.Address is { Length: > 0 } address ? address : null))];
}

/// <summary>A NIC as the API shows it: on a network (with its address) or isolated (both null).</summary>
public sealed record VmNicView(string Id, string Mac, Guid? NetworkId, string? Address);

/// <summary>
/// The VM API, for scripts and benchmarks; the pages call <see cref="VmService"/> directly.
/// Mutating calls need the <c>X-Paddock-Api</c> header (<see cref="ApiAnswers.RequireApiHeader"/>).
/// </summary>
public static class VmEndpoints
{
    public static void MapVmEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/vms").RequireAuthorization().WithTags("VMs");
        MapReads(api);
        MapOperations(api);
        MapCopies(api);
        MapChanges(api);
        api.MapForwardEndpoints();
        api.MapVmStatsEndpoints();
    }

    /// <summary>The VMs the caller may see, one of them, its tasks; and a new VM.</summary>
    private static void MapReads(RouteGroupBuilder api)
    {
        api.MapGet("/", async (int? limit, Guid? after, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await ListPages.AnswerAsync(http, await VmService.VisibleAsync(session, http.User, http.RequestAborted), v => v.Id, VmView.Of, limit, after,
                async () => (await VmService.ListAsync(session, http.User, http.RequestAborted)).Select(VmView.Of));
        }).WithSummary("The VMs you may see: your own, your groups' and, for admins, all (a page at a time with limit and after).").Produces<IEnumerable<VmView>>();

        api.MapGet("/{id:guid}", async (Guid id, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await VmService.FindAsync(session, http.User, id, http.RequestAborted) is { } vm ? Results.Ok(VmView.Of(vm)) : NotFound();
        }).WithSummary("One VM.").Produces<VmView>();

        api.MapPost("/", async (NewVm newVm, HttpContext http, VmService vms) =>
        {
            var key = http.Request.Headers[CreateKeys.Header] is { Count: > 0 } sent ? sent.ToString() : null;
            if (key is not null && CreateKeys.Problem(key) is { } problem)
            {
                return ApiAnswers.Invalid(CreateKeys.Header, problem);
            }

            try
            {
                var (id, replayed) = await vms.CreateAsync(http.User, newVm, key, http.RequestAborted);
                if (replayed)
                {
                    http.Response.Headers["Idempotent-Replayed"] = "true";
                }

                return Results.Created($"/api/vms/{id}", new IdAnswer(id));
            }
            catch (Placement.NoHostException e) when (http.User.IsAdmin())
            {
                // Admins see why each host was passed over; members read the sentence.
                return Results.Problem(statusCode: 409, title: e.Message, detail: e.Detail, extensions: new Dictionary<string, object?> { ["passedOver"] = e.Decision.PassedOver });
            }
            catch (RefusedException e)
            {
                return ApiAnswers.Refused(e, newVm);
            }
        }).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Creates a VM (and starts it unless start is false); an Idempotency-Key header makes a repeat answer the same VM.").Produces<IdAnswer>(201);

        // Newest first, a page at a time: the Link header's rel="next" names the older page, as long as there is one.
        api.MapGet("/{id:guid}/tasks", async (Guid id, long? before, int? limit, HttpContext http, IDocumentStore store) =>
        {
            if (limit is < 1 or > VmTasks.MaxPageSize)
            {
                var problem = $"Limit: from 1 to {VmTasks.MaxPageSize} tasks a page.";
                return ApiAnswers.Invalid("limit", problem);
            }

            await using var session = store.QuerySession();
            if (await VmService.FindAsync(session, http.User, id, http.RequestAborted) is not { } vm)
            {
                return NotFound();
            }

            var size = limit ?? VmTasks.PageSize;
            var page = await VmTasks.LoadAsync(session, vm.Id, before, size, http.RequestAborted);
            if (page.Older is { } older)
            {
                http.Response.Headers.Link = $"</api/vms/{vm.Id}/tasks?before={older}&limit={size}>; rel=\"next\"";
            }

            return Results.Ok(page.Tasks);
        }).WithSummary("The VM's tasks, newest first, a page at a time (the Link header names the next page).").Produces<IReadOnlyList<VmTask>>();

        // One task, where a 202 points: polled until its state is no longer Running.
        api.MapGet("/{id:guid}/tasks/{operationId:guid}", async (Guid id, Guid operationId, HttpContext http, IDocumentStore store, WorkBoard work) =>
        {
            await using var session = store.QuerySession();
            if (await VmService.FindAsync(session, http.User, id, http.RequestAborted) is not { } vm)
            {
                return NotFound();
            }

            return await VmTasks.LoadOneAsync(session, vm.Id, operationId, http.RequestAborted) is { } task
                ? Results.Ok(task.State == VmTaskState.Running && work.Of(operationId) is { } done ? task with { Progress = TaskProgress.Of(done) } : task)
                : Results.Problem(statusCode: 404, title: "No such task.");
        }).WithSummary("One task, where an operation's 202 points: poll it until its state is no longer Running.").Produces<VmTask>();
    }

    /// <summary>Operations asked of a VM: power, keys, snapshots.</summary>
    private static void MapOperations(RouteGroupBuilder api)
    {
        api.MapPost("/{id:guid}/{verb}", (Guid id, string verb, HttpContext http, VmService vms) =>
            // By name only: Enum.TryParse also takes any number ("-1"), which names no verb.
            Enum.GetNames<VmVerb>().FirstOrDefault(n => string.Equals(n, verb, StringComparison.OrdinalIgnoreCase)) is { } name
            && SimpleOperation.Of(id, Enum.Parse<VmVerb>(name)) is { } operation
                ? OperateAsync(() => vms.RunAsync(http.User, operation, http.RequestAborted), id)
                : Task.FromResult(Results.Problem(statusCode: 404, title: $"No operation '{verb}'. Use start, shutdown, reboot, pause, resume, reset, poweroff, save, restore, delete or stoptyping.")))
            .AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("A power operation: start, shutdown, reboot, pause, resume, reset, poweroff, save, restore or delete; or stoptyping.");

        api.MapPost("/{id:guid}/isolation/resolve", (Guid id, HttpContext http, VmService vms) =>
            http.User.IsAdmin()
                ? DoAsync(() => vms.ResolveIsolationAsync(http.User, id, http.RequestAborted), id)
                : Task.FromResult(Results.Problem(statusCode: 403, title: "Only admins resolve isolation alerts.")))
            .AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Admins: lets a VM whose host disagreed on its label or uid start again.").Produces(202);

        api.MapPost("/{id:guid}/keys", (Guid id, KeysBody body, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new SendKeys(id, body.Combination), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Sends a key combination of the console menu (for example Ctrl-Alt-Del).");

        api.MapPost("/{id:guid}/type", (Guid id, TypeBody body, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new TypeText(id, body.Text), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Types text into the VM's keyboard on its keyboard layout, 25 characters a second; POST stoptyping stops it.");

        api.MapPut("/{id:guid}/guest", (Guid id, GuestSetup body, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new ConfigureGuest(id, body), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Edits the guest's cloud-init setup (as at create); it takes effect at the next boot. A password, user-data or network-config left out keeps its value; an empty one removes it.");

        api.MapPost("/{id:guid}/guest/password", (Guid id, GuestPasswordBody body, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new SetGuestPassword(id, body.User, body.Password), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Sets a guest user's password through the VM's guest agent (owner or admin; the VM running a guest agent).");

        api.MapPost("/{id:guid}/snapshots", (Guid id, SnapshotBody body, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new TakeSnapshot(id, body.Name), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Takes a snapshot (with the memory of a running VM).");

        api.MapPost("/{id:guid}/snapshots/{name}/revert", (Guid id, string name, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new RevertSnapshot(id, name), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Goes back to a snapshot.");

        api.MapDelete("/{id:guid}/snapshots/{name}", (Guid id, string name, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new DeleteSnapshot(id, name), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Deletes a snapshot.");
    }

    /// <summary>A VM copied into a new one (clone) or into a template.</summary>
    private static void MapCopies(RouteGroupBuilder api)
    {
        api.MapPost("/{id:guid}/clone", async (Guid id, CloneBody body, HttpContext http, VmService vms) =>
        {
            try
            {
                var clone = await vms.CloneAsync(http.User, id, body.Name, http.RequestAborted);
                return Results.Created($"/api/vms/{clone}", new IdAnswer(clone));
            }
            catch (VmNotFoundException)
            {
                return NotFound();
            }
            catch (RefusedException e)
            {
                return ApiAnswers.Refused(e);
            }
        }).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Clones a stopped VM into a new one of yours.").Produces<IdAnswer>(201);

        // Under the VM, as it is the VM that changes: it becomes the template.
        api.MapPost("/{id:guid}/template", async (Guid id, ConvertBody body, HttpContext http, TemplateConversion conversion) =>
        {
            try
            {
                var template = await conversion.ConvertAsync(http.User, id, body.Name, body.Description, http.RequestAborted);
                return Results.Accepted($"/api/templates/{template}", new IdAnswer(template));
            }
            catch (VmNotFoundException)
            {
                return NotFound();
            }
            catch (RefusedException e)
            {
                return ApiAnswers.Refused(e);
            }
            catch (TemplateRequestException e)
            {
                return TemplateEndpoints.Refused(e);
            }
        }).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Turns a stopped VM into a template (the VM is gone after).").Produces<IdAnswer>(202);
    }

    /// <summary>What a VM holds and how it behaves: hardware, group, CD-ROM, lease, settings.</summary>
    private static void MapChanges(RouteGroupBuilder api)
    {
        api.MapPost("/{id:guid}/hardware", (Guid id, HardwareChange change, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new ChangeHardware(id, change), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Adds, removes or grows a disk, adds or removes a NIC, sets vCPUs or (admins) the balloon.");

        api.MapPut("/{id:guid}/group", (Guid id, GroupBody body, HttpContext http, VmService vms) =>
            DoAsync(() => vms.SetGroupAsync(http.User, id, body.GroupId, http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Shares the VM with one of your groups, or with none.").Produces(202);

        api.MapPut("/{id:guid}/cdrom", (Guid id, CdromBody body, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new ChangeMedium(id, body.ImageId), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Puts an ISO into the CD-ROM drive, or ejects it (null).");

        api.MapPut("/{id:guid}/lease", (Guid id, LeaseBody body, HttpContext http, VmService vms) =>
            DoAsync(() => vms.ExtendLeaseAsync(http.User, id, body.LeaseMinutes is { } m ? TimeSpan.FromMinutes(m) : null, http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Sets the VM's lease from now, in minutes; null for no end, 0 to end it now.").Produces(202);

        api.MapPut("/{id:guid}/settings", (Guid id, VmSettings settings, HttpContext http, VmService vms) =>
            OperateAsync(() => vms.RunAsync(http.User, new ConfigureVm(id, settings), http.RequestAborted), id)).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .Operation("Sets the shutdown timeout, restart policy and boot order.");
    }

    private static Task<IResult> DoAsync(Func<Task> operation, Guid id) => AnswerAsync(async () =>
    {
        await operation();
        return Results.Accepted($"/api/vms/{id}");
    });

    /// <summary>An operation asked for: 202 with the Location of its task, which a client polls until it ends.</summary>
    private static Task<IResult> OperateAsync(Func<Task<Guid>> operation, Guid id) => AnswerAsync(async () =>
    {
        var operationId = await operation();
        return Results.Accepted(VmTasks.PathOf(id, operationId), new OperationAccepted(operationId));
    });

    /// <summary>An operation's summary, and its answer: 202 with the task's id and Location.</summary>
    private static RouteHandlerBuilder Operation(this RouteHandlerBuilder endpoint, string summary) =>
        endpoint.WithSummary(summary).Produces<OperationAccepted>(202);

    /// <summary>The answer of a call on a VM: its own, or 404 for a VM the caller does not see, or the refusal's problem details.</summary>
    internal static Task<IResult> AnswerAsync(Func<Task<IResult>> call) => ApiAnswers.AnswerAsync<VmNotFoundException>(call, "No such VM.");

    internal static IResult NotFound() => Results.Problem(statusCode: 404, title: "No such VM.");
}
