using Marten;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Templates;

public sealed record PublishRequest(Sharing Visibility, Guid? GroupId);

/// <summary>A template as the API shows it.</summary>
public sealed record TemplateView(
    Guid Id, string Name, string Description, string Owner, string Visibility, string? Group, int VCpus, int MemoryMiB, long DiskBytes,
    string State, int LinkedClones, long? ImageBytes, string? Sha256, string? LastError, DateTimeOffset CreatedAt, bool CloudInit, bool GuestAgent)
{
    public static TemplateView Of(TemplateSummary s) => new(
        s.Template.Id, s.Template.Name, s.Template.Description, s.OwnerName, s.Template.Visibility.ToString(), s.GroupName,
        s.Template.VCpus, s.Template.MemoryMiB, s.Template.DiskBytes, s.Template.State.ToString(), s.LinkedClones,
        s.Template.ImageBytes, s.Template.Sha256, s.Template.LastError, s.Template.CreatedAt, s.Template.CloudInit, s.Template.GuestAgent);
}

/// <summary>The template API (a VM becomes one under the VM API); mutating calls need the <c>X-Paddock-Api</c> header.</summary>
public static class TemplateEndpoints
{
    public static void MapTemplateEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/templates").RequireAuthorization().WithTags("Templates");

        api.MapGet("/", async (int? limit, Guid? after, HttpContext http, IDocumentStore store, TemplateService templates) =>
        {
            await using var session = store.QuerySession();
            return ListPages.Answer(http, (await templates.ListAsync(session, http.User, http.RequestAborted)).Select(TemplateView.Of), t => t.Id, limit, after);
        }).WithSummary("The templates you may use (a page at a time with limit and after).").Produces<IEnumerable<TemplateView>>();

        api.MapGet("/{id:guid}", async (Guid id, HttpContext http, IDocumentStore store, TemplateService templates) =>
        {
            await using var session = store.QuerySession();
            var found = (await templates.ListAsync(session, http.User, http.RequestAborted)).FirstOrDefault(s => s.Template.Id == id);
            return found is null ? NotFound() : Results.Ok(TemplateView.Of(found));
        }).WithSummary("One template.").Produces<TemplateView>();

        api.MapPut("/{id:guid}", (Guid id, TemplateEdit edit, HttpContext http, TemplateService templates) =>
            DoAsync(() => templates.UpdateAsync(http.User, id, edit, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Changes your template's name, description and default sizes.").Produces(204);

        api.MapPut("/{id:guid}/visibility", (Guid id, PublishRequest request, HttpContext http, TemplateService templates) =>
            DoAsync(() => templates.PublishAsync(http.User, id, request.Visibility, request.GroupId, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: who may use the template (Private, Group, Everyone).").Produces(204);

        api.MapDelete("/{id:guid}", (Guid id, HttpContext http, TemplateService templates) =>
            DoAsync(() => templates.DeleteAsync(http.User, id, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Deletes your template (not while VMs use its disk).").Produces(204);
    }

    private static async Task<IResult> DoAsync(Func<Task> request)
    {
        try
        {
            await request();
            return Results.NoContent();
        }
        catch (TemplateNotFoundException)
        {
            return NotFound();
        }
        catch (TemplateRequestException e)
        {
            return Refused(e);
        }
    }

    private static IResult NotFound() => Results.Problem(statusCode: 404, title: "No such template.");

    public static IResult Refused(TemplateRequestException e) =>
        e.Field is { } field
            ? ApiAnswers.Invalid(field, e.Message)
            : Results.Problem(statusCode: 409, title: e.Message);
}
