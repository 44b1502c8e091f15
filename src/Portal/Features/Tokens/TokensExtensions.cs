using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Paddock.Portal.Features.Accounts;

namespace Paddock.Portal.Features.Tokens;

public static class TokensExtensions
{
    /// <summary>Personal API tokens: their scheme (reached through the cookie's, on <c>/api</c> only), their service and documents.</summary>
    public static void AddTokens(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ApiTokens>();
        builder.Services.AddSingleton<ChangeNotifier<TokensChanged>>();
        builder.Services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, TokenAuthentication>(TokenAuthentication.Name, null);
        builder.Services.PostConfigure<CookieAuthenticationOptions>(AccountEndpoints.Scheme,
            options => options.ForwardDefaultSelector = http => TokenAuthentication.IsTokenCall(http) ? TokenAuthentication.Name : null);
        builder.Services.ConfigureMarten(options => options.Schema.For<ApiToken>().Index(t => t.OwnerId));
    }

    public static void MapTokens(this WebApplication app)
    {
        app.Use(TokenAuthentication.Limit);
        app.MapTokenEndpoints();
    }
}
