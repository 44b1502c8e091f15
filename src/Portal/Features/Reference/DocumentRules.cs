using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Paddock.Portal.Features.Reference;

/// <summary>
/// What the endpoints cannot say of themselves: who the document is, how a caller authenticates,
/// and the problem details every route answers by class (see <see cref="ExceptionAnswers"/> and
/// <see cref="ApiAnswers"/>): 401, 403 and 503 anywhere, 404 where the path names an object,
/// 400, 409 and 422 where something is sent.
/// </summary>
internal sealed class DocumentRules : IOpenApiDocumentTransformer
{
    public const string Problem = "ProblemDetails";
    public const string ValidationProblem = "HttpValidationProblemDetails";
    public const string ProblemJson = "application/problem+json";

    public async Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "Paddock",
            Version = "v1",
            Description = "Self-service VMs. Authenticate with a personal API token (Authorization: Bearer pdk_…, made on the API tokens page) "
                + "or a signed-in session (then calls that change things need the X-Paddock-Api header). Operations on a VM answer 202 "
                + "with the Location of their task: poll it until its state is no longer Running.",
        };
        document.AddComponent(Problem, WithExtensions(await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken)));
        document.AddComponent(ValidationProblem, WithExtensions(await context.GetOrCreateSchemaAsync(typeof(HttpValidationProblemDetails), null, cancellationToken)));
        document.AddComponent<IOpenApiSecurityScheme>("token", new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "A personal API token, on /api only.",
        });
        document.AddComponent<IOpenApiSecurityScheme>("session", new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Cookie, Name = "__Host-paddock", Description = "A signed-in browser session.",
        });
        document.Security =
        [
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("token", document)] = [] },
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("session", document)] = [] },
        ];
        AddMetrics(document);
        foreach (var (path, item) in document.Paths)
        {
            foreach (var (method, operation) in item.Operations ?? [])
            {
                AddProblems(document, path, method, operation);
            }
        }
    }

    /// <summary>The Prometheus scrape (the exporter's own endpoint, which describes nothing of itself).</summary>
    private static void AddMetrics(OpenApiDocument document)
    {
        document.Tags ??= new HashSet<OpenApiTag>();
        document.Tags.Add(new OpenApiTag { Name = "Metrics" });
        document.Paths["/api/metrics"] = new OpenApiPathItem
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation>
            {
                [HttpMethod.Get] = new()
                {
                    Summary = "Admins: the portal's metrics in Prometheus's text format (an admin's read-only token will do).",
                    Tags = new HashSet<OpenApiTagReference> { new("Metrics", document) },
                    Responses = new OpenApiResponses
                    {
                        ["200"] = new OpenApiResponse
                        {
                            Description = "OK",
                            Content = new Dictionary<string, OpenApiMediaType> { ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } } },
                        },
                    },
                },
            },
        };
    }

    /// <summary>A problem carries its request's <c>traceId</c>, and some carry more (an admin's <c>passedOver</c>, an evacuation's <c>blocked</c>).</summary>
    private static OpenApiSchema WithExtensions(OpenApiSchema problem)
    {
        problem.Properties ??= new Dictionary<string, IOpenApiSchema>();
        problem.Properties["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The request's trace, as the portal's log names it." };
        problem.AdditionalProperties = new OpenApiSchema();
        return problem;
    }

    private static void AddProblems(OpenApiDocument document, string path, HttpMethod method, OpenApiOperation operation)
    {
        var sends = method != HttpMethod.Get && method != HttpMethod.Head;
        var queried = operation.Parameters?.Any(p => p.In == ParameterLocation.Query) == true;
        operation.Responses ??= [];
        Add("401", "Not signed in, or the API token is unknown, expired or revoked, or its account is disabled.");
        Add("403", "Not allowed: an admin's route, a change with a read-only token, or a token where a signed-in session is needed.");
        Add("503", "The portal cannot reach its database now; try again after Retry-After.");
        if (path.Contains('{'))
        {
            Add("404", "No such object, or not one you may see: the same answer for both.");
        }

        if (sends)
        {
            Add("400", "The request could not be read: not JSON, a value of the wrong type, or (with a session) no X-Paddock-Api header.");
            Add("409", "The object's state refuses it now (a busy VM, no host with room, over quota), or another change met it.");
        }

        if (sends || queried)
        {
            Add("422", "A value the rules refuse: errors names the field and says what is wrong.", ValidationProblem);
        }

        void Add(string status, string description, string schema = Problem) =>
            operation.Responses.TryAdd(status, new OpenApiResponse
            {
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType> { [ProblemJson] = new() { Schema = new OpenApiSchemaReference(schema, document) } },
            });
    }
}
