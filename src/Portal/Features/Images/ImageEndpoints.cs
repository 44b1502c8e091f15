using Marten;
using Microsoft.AspNetCore.Http.Features;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Images;

public sealed record ShareRequest(Sharing Visibility, Guid? GroupId);

/// <summary>An image as the API shows it.</summary>
public sealed record ImageView(
    Guid Id, string Name, string Kind, string Format, string UploadedFormat, long SizeBytes, long VirtualSize, string Sha256, string UploadSha256,
    string Owner, string Visibility, string? Group, DateTimeOffset CreatedAt)
{
    public static ImageView Of(ImageSummary s) => new(
        s.Image.Id, s.Image.Name, s.Image.Kind.ToString(), s.Image.Format, s.Image.UploadedFormat, s.Image.SizeBytes, s.Image.VirtualSize,
        s.Image.Sha256, s.Image.UploadSha256, s.OwnerName, s.Image.Visibility.ToString(), s.GroupName, s.Image.CreatedAt);
}

/// <summary>The image library's API, and the route agents fetch images by checksum from.</summary>
public static class ImageEndpoints
{
    public static void MapImageEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/images").RequireAuthorization().WithTags("Images");
        api.MapLibrary();
        api.MapUploads();
        app.MapAgentImages();
    }

    /// <summary>Reading the library: the images a person may see, and the admins' limits.</summary>
    private static void MapLibrary(this RouteGroupBuilder api)
    {
        api.MapGet("/", async (int? limit, Guid? after, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return ListPages.Answer(http, (await ImageService.ListAsync(session, http.User, http.RequestAborted)).Select(ImageView.Of), i => i.Id, limit, after);
        }).WithSummary("The ISOs and disk images you may use (a page at a time with limit and after).").Produces<IEnumerable<ImageView>>();

        api.MapGet("/limits", async (IDocumentStore store, CancellationToken ct) =>
        {
            await using var session = store.QuerySession();
            return await ImageService.SettingsAsync(session, ct);
        }).WithSummary("The upload limits.");

        api.MapGet("/{id:guid}", async (Guid id, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            var found = (await ImageService.ListAsync(session, http.User, http.RequestAborted)).FirstOrDefault(s => s.Image.Id == id);
            return found is null ? NotFound() : Results.Ok(ImageView.Of(found));
        }).WithSummary("One image.").Produces<ImageView>();
    }

    /// <summary>Changing the library: upload, delete, share.</summary>
    private static void MapUploads(this RouteGroupBuilder api)
    {
        // The body is the file itself, streamed; the size limit is the admins' and is checked while reading.
        api.MapPost("/", async (string? name, string? kind, string? format, HttpContext http, ImageService images, IDocumentStore store) =>
        {
            LiftBodySizeLimit(http);

            if (!Enum.TryParse<ImageKind>(kind, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
            {
                return ApiAnswers.Invalid("kind", "Kind: iso or disk.");
            }

            try
            {
                var image = await images.UploadAsync(http.User, name, parsed, format, http.Request.Body, http.Request.ContentLength, http.RequestAborted);
                await using var session = store.QuerySession();
                var summary = (await ImageService.ListAsync(session, http.User, http.RequestAborted)).First(s => s.Image.Id == image.Id);
                return Results.Created($"/api/images/{image.Id}", ImageView.Of(summary));
            }
            catch (ImageRequestException e)
            {
                return Refused(e);
            }
        }).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Uploads an ISO or disk image: the file is the body (application/octet-stream), name, kind (iso or disk) and format in the query.")
            .Accepts<Stream>("application/octet-stream").Produces<ImageView>(201);

        api.MapDelete("/{id:guid}", (Guid id, HttpContext http, ImageService images) =>
            DoAsync(() => images.DeleteAsync(http.User, id, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Deletes your image (not while a VM uses it).").Produces(204);

        api.MapPut("/{id:guid}/visibility", (Guid id, ShareRequest request, HttpContext http, ImageService images) =>
            DoAsync(() => images.ShareAsync(http.User, id, request.Visibility, request.GroupId, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: who may use the image (Private, Group, Everyone).").Produces(204);
    }

    /// <summary>The routes host agents use to fetch images and hand over the ones they made.</summary>
    private static void MapAgentImages(this IEndpointRouteBuilder app)
    {
        // Agents fetch what a VM placed on them needs, by the name the library and their cache share.
        // Any other image is "not found", as a missing one: a host learns nothing of the rest of the library.
        app.MapGet("/agent/images/{file}", async (string file, HttpContext http, ImageService images, IVmImageUse vms, IDocumentStore store, CancellationToken ct) =>
        {
            if (AgentAuthentication.HostOf(http.User) is not { } hostId || !await images.IsKnownAsync(file, ct))
            {
                return Results.NotFound();
            }

            await using var session = store.QuerySession();
            return await vms.NeededOnAsync(session, hostId, file, ct) && File.Exists(Path.Combine(images.LibraryDir, file))
                ? Results.File(Path.Combine(images.LibraryDir, file), "application/octet-stream")
                : Results.NotFound();
        }).RequireAuthorization(AgentAuthentication.Policy);

        // And hand over what they made (a template's image), named by its checksum.
        app.MapPut("/agent/images/{file}", async (string file, HttpContext http, ImageService images) =>
        {
            LiftBodySizeLimit(http);

            try
            {
                await images.AdoptAsync(file, http.Request.Body, http.Request.ContentLength, http.RequestAborted);
                return Results.NoContent();
            }
            catch (ImageRequestException e)
            {
                return Results.Problem(statusCode: e.Status, title: e.Message);
            }
        }).RequireAuthorization(AgentAuthentication.Policy);
    }

    private static void LiftBodySizeLimit(HttpContext http)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }
    }

    private static async Task<IResult> DoAsync(Func<Task> request)
    {
        try
        {
            await request();
            return Results.NoContent();
        }
        catch (ImageNotFoundException)
        {
            return NotFound();
        }
        catch (ImageRequestException e)
        {
            return Refused(e);
        }
    }

    private static IResult NotFound() => Results.Problem(statusCode: 404, title: "No such image.");

    private static IResult Refused(ImageRequestException e) =>
        e.Field is { } field && e.Status == StatusCodes.Status400BadRequest
            ? ApiAnswers.Invalid(field, e.Message)
            : Results.Problem(statusCode: e.Status, title: e.Message, extensions: e.Field is { } f ? new Dictionary<string, object?> { ["field"] = f } : null);
}
