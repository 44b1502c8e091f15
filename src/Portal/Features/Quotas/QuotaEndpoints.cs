using Marten;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Quotas;

/// <summary>What to change of the policy; what is left out stays (the overcommit policy has its own route).</summary>
public sealed record PolicyBody(bool? CustomSizes = null, TimeSpan? LeaseNotice = null, TimeSpan? ExpiredGrace = null, TimeSpan? MaxTokenLifetime = null);

/// <summary>Limits for one user or group; a null limit is no limit, a null lease no maximum.</summary>
public sealed record QuotaBody(QuotaLimits Limits, int? MaxLeaseMinutes = null);

public static class QuotaEndpoints
{
    public static void MapQuotaEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").RequireAuthorization().WithTags("Quotas and policy");
        api.MapOwnQuota();
        api.MapPolicy();
        api.MapQuotaLimits();
    }

    private static void MapOwnQuota(this RouteGroupBuilder api)
    {
        // The caller's own quota and their groups': limits, in use, running.
        api.MapGet("/quota", async (HttpContext http, IDocumentStore store, QuotaService quotas) =>
        {
            await using var session = store.QuerySession();
            var statuses = new List<QuotaStatus> { await quotas.StatusAsync(session, http.User.UserId(), group: false, http.RequestAborted) };
            foreach (var group in await GroupService.GroupsOfAsync(session, http.User.UserId(), http.RequestAborted))
            {
                statuses.Add(await quotas.StatusAsync(session, group, group: true, http.RequestAborted));
            }

            return statuses;
        }).WithSummary("Your quota and your groups': limits, in use, running.");
    }

    /// <summary>The site's policy: everyone reads it, admins change it.</summary>
    private static void MapPolicy(this RouteGroupBuilder api)
    {
        api.MapGet("/policy", async (IDocumentStore store, HttpContext http) =>
        {
            await using var session = store.QuerySession();
            return await PolicyService.GetAsync(session, http.RequestAborted);
        }).WithSummary("The site's policy.");

        api.MapPut("/policy", async (PolicyBody body, HttpContext http, IDocumentStore store, PolicyService policies) =>
        {
            if (!http.User.IsAdmin())
            {
                return Results.Problem(statusCode: 403, title: "Only admins may change the policy.");
            }

            try
            {
                await using var session = store.QuerySession();
                var current = await PolicyService.GetAsync(session, http.RequestAborted);
                var policy = current with
                {
                    CustomSizes = body.CustomSizes ?? current.CustomSizes,
                    LeaseNotice = body.LeaseNotice ?? current.LeaseNotice,
                    ExpiredGrace = body.ExpiredGrace ?? current.ExpiredGrace,
                    MaxTokenLifetime = body.MaxTokenLifetime ?? current.MaxTokenLifetime,
                };
                await policies.SetAsync(http.User, policy, http.RequestAborted);
                return Results.Ok(policy);
            }
            catch (RefusedException e)
            {
                return ApiAnswers.Refused(e);
            }
        }).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Admins: changes the policy; what is left out stays.").Produces<PortalPolicy>();
    }

    private static void MapQuotaLimits(this RouteGroupBuilder api)
    {
        // Admins set a user's or a group's limits by name, so that scripts need no ids.
        api.MapPut("/quotas/{kind}/{name}", async (string kind, string name, QuotaBody body, HttpContext http, IDocumentStore store, QuotaService quotas) =>
        {
            if (!http.User.IsAdmin())
            {
                return Results.Problem(statusCode: 403, title: "Only admins may change quotas.");
            }

            await using var session = store.QuerySession();
            var id = kind switch
            {
                "users" => (await session.Query<PortalUser>().FirstOrDefaultAsync(u => u.UserName == name, http.RequestAborted))?.Id,
                "groups" => (await session.Query<Group>().FirstOrDefaultAsync(g => g.Name == name, http.RequestAborted))?.Id,
                _ => null,
            };
            if (id is null)
            {
                return Results.Problem(statusCode: 404, title: $"No {(kind == "groups" ? "group" : "user")} called '{name}'.");
            }

            try
            {
                await quotas.SetAsync(http.User, id.Value, kind == "groups" ? QuotaSubject.Group : QuotaSubject.User, body.Limits,
                    body.MaxLeaseMinutes is { } m ? TimeSpan.FromMinutes(m) : null, http.RequestAborted);
                return Results.Ok(await quotas.StatusAsync(session, id.Value, kind == "groups", http.RequestAborted));
            }
            catch (RefusedException e)
            {
                return ApiAnswers.Refused(e);
            }
        }).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Admins: sets a user's (kind users) or group's (kind groups) quota.").Produces<QuotaStatus>();
    }
}
