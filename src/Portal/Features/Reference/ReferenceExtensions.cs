namespace Paddock.Portal.Features.Reference;

/// <summary>
/// The API described: an OpenAPI 3.1 document of every <c>/api</c> route at
/// <c>/openapi/v1.json</c> (anonymous: it holds no one's data), generated from the endpoints
/// themselves, and a page that browses it (<c>/api-reference</c>).
/// </summary>
public static class ReferenceExtensions
{
    public const string Document = "v1";
    public const string DocumentPath = "/openapi/v1.json";

    public static void AddReference(this WebApplicationBuilder builder) =>
        builder.Services.AddOpenApi(Document, options =>
        {
            options.ShouldInclude = description => description.RelativePath?.StartsWith("api/", StringComparison.Ordinal) == true;
            options.AddDocumentTransformer<DocumentRules>();
            options.AddSchemaTransformer<BoundedStrings>();
        });

    public static void MapReference(this WebApplication app) => app.MapOpenApi();
}
