using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Paddock.Portal.Features.Reference;

/// <summary>
/// Strings go through <see cref="RequestJson"/>'s own converter (it bounds their length), which the
/// schema generator cannot see into: this says what they are, a string of at most
/// <see cref="RequestJson.MaxStringChars"/> characters, or null where the property is nullable.
/// </summary>
internal sealed class BoundedStrings : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.JsonTypeInfo.Type == typeof(string))
        {
            schema.Type = context.JsonPropertyInfo?.IsGetNullable == true ? JsonSchemaType.String | JsonSchemaType.Null : JsonSchemaType.String;
            schema.MaxLength = RequestJson.MaxStringChars;
        }

        return Task.CompletedTask;
    }
}
