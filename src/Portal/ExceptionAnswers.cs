using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace Paddock.Portal;

/// <summary>
/// What an exception that escaped a handler answers, by its class rather than by the route it came
/// from: a request that could not be read (binding, JSON, a value PostgreSQL cannot hold) is the
/// caller's 400; a write that met another one on the same stream or unique key (two admins setting
/// one quota at once) is 409; an unreachable database is 503 with <c>Retry-After</c>. Programs (API, hubs,
/// consoles, agents) get problem details, people a short page; neither ever gets a stack trace or a
/// path of the portal's. Anything else is left to the error page (pages) or a bare 500 problem (programs).
/// </summary>
public sealed class ExceptionAnswers(IProblemDetailsService problems, ILogger<ExceptionAnswers> log) : IExceptionHandler
{
    /// <summary>How long a caller should wait before trying again while the database is away.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(10);

    public const string StoreUnavailable = "The store is unavailable";

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, detail) = Classify(exception);
        if (httpContext.Response.HasStarted)
        {
            return false;
        }

        // The middleware has already set the path to its error page's: the request's own is in the feature.
        var forPrograms = Extensions.IsForPrograms(httpContext.Features.Get<IExceptionHandlerPathFeature>()?.Path ?? httpContext.Request.Path);
        if (status == StatusCodes.Status500InternalServerError && !forPrograms)
        {
            return false;
        }

        log.LogWarning("{Method} {Path} answered {Status}: {Exception}",
            httpContext.Request.Method, httpContext.Features.Get<IExceptionHandlerPathFeature>()?.Path, status, exception.GetType().Name);
        httpContext.Response.Clear();
        httpContext.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            httpContext.Response.Headers.RetryAfter = ((int)RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (forPrograms)
        {
            return await problems.TryWriteAsync(new()
            {
                HttpContext = httpContext,
                Exception = exception,
                ProblemDetails = { Status = status, Title = title, Detail = detail },
            });
        }

        // The page is written here, not rendered: with the database away the layout (and even the
        // sign-in cookie's check) cannot run.
        httpContext.Response.ContentType = "text/html; charset=utf-8";
        await httpContext.Response.WriteAsync(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Paddock</title></head><body><main>"
            + $"<h1>{WebUtility.HtmlEncode(title)}</h1><p>{WebUtility.HtmlEncode(detail)}</p><p><a href=\"/\">Try again</a></p></main></body></html>", cancellationToken);
        return true;
    }

    /// <summary>The status, title and detail an exception (or one it wraps) stands for.</summary>
    public static (int Status, string Title, string Detail) Classify(Exception exception)
    {
        foreach (var e in Chain(exception))
        {
            switch (e)
            {
                case BadHttpRequestException bad:
                    return (bad.StatusCode, "The request could not be read.", "A value in the request is malformed, too long or of the wrong type.");
                case Microsoft.AspNetCore.Antiforgery.AntiforgeryValidationException or InvalidDataException:
                    return (StatusCodes.Status400BadRequest, "The form could not be read.", "The form is stale, came from another site or holds characters a form cannot.");
                case JsonException:
                    return (StatusCodes.Status400BadRequest, "The request's JSON could not be read.", "The body must be a JSON object with fields of the documented types.");
                case JasperFx.ConcurrencyException or JasperFx.Events.ExistingStreamIdCollisionException or Marten.Exceptions.ExistingStreamIdCollisionException:
                case PostgresException { SqlState: PostgresErrorCodes.UniqueViolation }:
                    return (StatusCodes.Status409Conflict, "Someone else changed this at the same moment.", "Look at it again and try once more.");
                case PostgresException { SqlState: var state } when IsValueTheStoreRefuses(state):
                    return (StatusCodes.Status400BadRequest, "A value in the request cannot be stored.", "A value is too long or holds a character that cannot be stored (such as NUL).");
                case PostgresException { SqlState: var state } when IsUnavailable(state):
                case NpgsqlException and not PostgresException:
                    return (StatusCodes.Status503ServiceUnavailable, StoreUnavailable, "Paddock cannot reach its database just now. Try again in a moment.");
            }
        }

        return (StatusCodes.Status500InternalServerError, "Something went wrong.", "The error was logged.");
    }

    /// <summary>PostgreSQL's data exceptions (22…) and its limits (54…: an index row too big): the input's fault.</summary>
    private static bool IsValueTheStoreRefuses(string state) => state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("54", StringComparison.Ordinal);

    /// <summary>Connection exceptions (08…), a server shutting down or starting (57P…), too many connections (53300).</summary>
    private static bool IsUnavailable(string state) =>
        state.StartsWith("08", StringComparison.Ordinal) || state is "57P01" or "57P02" or "57P03" or "53300";

    private static IEnumerable<Exception> Chain(Exception exception)
    {
        var pending = new Stack<Exception>([exception]);
        while (pending.TryPop(out var e))
        {
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
    }
}
