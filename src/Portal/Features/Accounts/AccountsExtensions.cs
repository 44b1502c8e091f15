using Marten;
using Marten.Schema;
using Microsoft.AspNetCore.Identity;

namespace Paddock.Portal.Features.Accounts;

public static class AccountsExtensions
{
    /// <summary>Accounts, the sign-in cookie and its checks, sign-in throttling, and their documents.</summary>
    public static void AddAccounts(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IPasswordHasher<PortalUser>, PasswordHasher<PortalUser>>();
        builder.Services.AddSingleton<Accounts>();
        builder.Services.AddSingleton<CookieEvents>();
        builder.Services.AddAuthentication(AccountEndpoints.Scheme)
            .AddCookie(AccountEndpoints.Scheme, options =>
            {
                options.LoginPath = AccountEndpoints.LoginPath;
                options.AccessDeniedPath = "/account/denied";
                // __Host-: the browser keeps it only when Secure, for the whole site, from this host alone.
                options.Cookie.Name = "__Host-paddock";
                options.Cookie.HttpOnly = true;
                options.Cookie.SecurePolicy = CookieSecurePolicy.Always;
                options.Cookie.SameSite = SameSiteMode.Lax;
                options.SlidingExpiration = true;
                options.ExpireTimeSpan = TimeSpan.FromHours(8);
                options.EventsType = typeof(CookieEvents);
            });
        builder.Services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "__Host-paddock-antiforgery";
            options.Cookie.SecurePolicy = CookieSecurePolicy.Always;
            options.Cookie.SameSite = SameSiteMode.Strict;
        });
        builder.Services.AddCascadingAuthenticationState();
        builder.Services.AddSingleton<UserSessions>();
        builder.Services.AddScoped<Microsoft.AspNetCore.Components.Authorization.AuthenticationStateProvider, RevalidatingAuthentication>();
        builder.Services.AddSingleton<SessionEnds>();
        builder.Services.AddSingleton<ChangeNotifier<UsersChanged>>();
        builder.Services.AddSingleton<SignInThrottle>();
        builder.Services.AddSingleton<Shared.IExpiredState, SignInFailuresExpiry>();
        builder.Services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.AddPolicy<string, SignInRateLimit>(SignInRateLimit.Policy);
        });
        builder.Services.ConfigureMarten(options =>
        {
            options.Schema.For<PortalUser>().UniqueIndex(UniqueIndexType.Computed, "uq_user_name", u => u.UserName);
            options.Schema.For<SignInFailures>().Identity(f => f.Id).UseOptimisticConcurrency(true).Index(f => f.LastAt);
        });
    }

    public static void MapAccounts(this WebApplication app) => app.MapAccountEndpoints();
}
