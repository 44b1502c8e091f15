namespace Paddock.Portal.Features.SshKeys;

public sealed record AddSshKeyBody(string? Name, string? PublicKey);

/// <summary><c>GET /api/account/ssh-keys</c>, <c>POST /api/account/ssh-keys</c>, <c>DELETE /api/account/ssh-keys/{id}</c>: the caller's own keys only.</summary>
public static class SshKeyEndpoints
{
    public static void MapSshKeyEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/account/ssh-keys").RequireAuthorization().WithTags("SSH keys");
        api.MapGet("/", async (int? limit, Guid? after, HttpContext http, SshKeyService keys) =>
            ListPages.Answer(http, (await keys.MineAsync(http.User, http.RequestAborted)).Select(SshKeyView.Of), k => k.Id, limit, after))
            .WithSummary("Your SSH public keys, to pick (sshKeyIds) when you create a VM whose guest reads cloud-init.").Produces<IEnumerable<SshKeyView>>();
        api.MapPost("/", (AddSshKeyBody body, HttpContext http, SshKeyService keys) => ApiAnswers.AnswerAsync<SshKeyNotFoundException>(async () =>
        {
            var added = await keys.AddAsync(http.User, body.Name, body.PublicKey, http.RequestAborted);
            return Results.Created($"/api/account/ssh-keys/{added.Id}", SshKeyView.Of(added));
        }, "No such SSH key.")).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Adds an SSH public key (one OpenSSH line) to your profile.").Produces<SshKeyView>(201);
        api.MapDelete("/{id:guid}", (Guid id, HttpContext http, SshKeyService keys) => ApiAnswers.AnswerAsync<SshKeyNotFoundException>(async () =>
        {
            await keys.DeleteAsync(http.User, id, http.RequestAborted);
            return Results.NoContent();
        }, "No such SSH key.")).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Deletes one of your SSH keys.").Produces(204);
    }
}
