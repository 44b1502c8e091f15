using Microsoft.OpenApi;

namespace Paddock.Portal.Features.Reference;

/// <summary>How the reference page names a schema in a line: a component by its name, an array by its items, a type by its JSON words.</summary>
public static class SchemaText
{
    public static string Of(IOpenApiSchema? schema) => schema switch
    {
        null => "",
        OpenApiSchemaReference reference => reference.Reference.Id ?? "object",
        { Type: { } type } when type.HasFlag(JsonSchemaType.Array) => $"array of {Of(schema.Items)}{Nullable(type)}",
        { Type: { } type } => $"{Words(type & ~JsonSchemaType.Null)}{(schema.Format is { } format ? $" ({format})" : "")}{Nullable(type)}",
        { OneOf.Count: > 0 } => string.Join(" | ", schema.OneOf.Select(Of)),
        { AnyOf.Count: > 0 } => string.Join(" | ", schema.AnyOf.Select(Of)),
        _ => "any",
    };

    /// <summary>The component a schema names, if one, for a link to it.</summary>
    public static string? ComponentOf(IOpenApiSchema? schema) => schema switch
    {
        OpenApiSchemaReference reference => reference.Reference.Id,
        { Items: { } items } => ComponentOf(items),
        _ => null,
    };

    private static string Nullable(JsonSchemaType type) => type.HasFlag(JsonSchemaType.Null) ? " or null" : "";

    private static string Words(JsonSchemaType type) =>
        string.Join(" | ", Enum.GetValues<JsonSchemaType>().Where(t => t != JsonSchemaType.Null && type.HasFlag(t)).Select(t => t.ToString().ToLowerInvariant()));
}
