using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Paddock.Portal.Features.Accounts;

/// <summary>
/// A flood guard on the sign-in form, per client address and per portal process: past
/// <see cref="SignInLimits.AddressPostsPerMinute"/> posts in a minute, an address is answered 429
/// with a problem detail and Retry-After, before the form is read. It is memory only, so it does
/// not replace the failure counts in PostgreSQL (<see cref="SignInThrottle"/>), which every process
/// shares and which alone slow down and lock accounts and addresses.
/// </summary>
public sealed class SignInRateLimit(IOptions<PortalOptions> options, ILogger<SignInRateLimit> log) : IRateLimiterPolicy<string>
{
    public const string Policy = "sign-in";

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => RejectAsync;

    public RateLimitPartition<string> GetPartition(HttpContext httpContext) =>
        RateLimitPartition.GetFixedWindowLimiter(AddressOf(httpContext), _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.Value.SignIn.AddressPostsPerMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        });

    private static string AddressOf(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    private async ValueTask RejectAsync(OnRejectedContext context, CancellationToken ct)
    {
        var http = context.HttpContext;
        var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromMinutes(1);
        var seconds = (int)Math.Ceiling(wait.TotalSeconds);
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        // Logged, not audited: a flood would otherwise write the audit log full.
        log.LogWarning("Sign-in from {Address} refused: more than the posts a minute allowed", AddressOf(http));
        await Results.Problem(
            statusCode: StatusCodes.Status429TooManyRequests,
            title: "Too many sign-in attempts from this address.",
            detail: $"Wait {seconds} s before the next try.").ExecuteAsync(http);
    }
}
