using System.Security.Cryptography;
using System.Text;
using Marten;
using Npgsql;

namespace Paddock.Portal.Shared;

/// <summary>
/// PostgreSQL advisory locks held until the session's transaction ends. Creates that add to the
/// same quota or book the same host wait in line in the database instead of failing each other's
/// version checks and deciding again; creates for other owners on other hosts do not wait for
/// each other, whichever portal process admits them. The version checks stay, as the last word.
/// Taken always in one order (quotas, template, one host), so two transactions never wait on each
/// other in a circle.
/// </summary>
public static class TransactionLocks
{
    public const string Quota = "quota";

    /// <summary>One template: creates from it take it shared, its deletion alone (<see cref="TakeAsync(IDocumentSession, string, Guid, CancellationToken)"/>).</summary>
    public const string Template = "template";

    /// <summary>One host's booking: a placement takes the chosen host's, a growth its VM's host's.</summary>
    public const string Placement = "placement";

    /// <summary>One tenant network: NICs put on it and its deletion, after the locks above (a create takes it last).</summary>
    public const string Network = "network";

    /// <summary>One person's image storage: uploads reserve, resize and keep their bytes under it.</summary>
    public const string Storage = "storage";

    /// <summary>One sign-in key's failure count (an account or an address): guesses are counted under it before a password is hashed.</summary>
    public const string SignIn = "sign-in";

    /// <summary>Opens the session's transaction (if not yet) and waits for the lock on <paramref name="scope"/>/<paramref name="id"/>.</summary>
    public static Task TakeAsync(IDocumentSession session, string scope, Guid id, CancellationToken ct) =>
        TakeAsync(session, scope, id.ToString("N"), ct);

    /// <summary>The same lock shared: holders of it do not wait for each other, only for (and hold off) one who takes it alone.</summary>
    public static Task TakeSharedAsync(IDocumentSession session, string scope, Guid id, CancellationToken ct) =>
        TakeAsync(session, scope, id.ToString("N"), ct, shared: true);

    /// <summary>The same for an id that is a name (a sign-in key).</summary>
    public static async Task TakeAsync(IDocumentSession session, string scope, string id, CancellationToken ct, bool shared = false)
    {
        await session.BeginTransactionAsync(ct);
        await using var command = session.Connection!.CreateCommand();
        command.CommandText = shared ? "select pg_advisory_xact_lock_shared(@key)" : "select pg_advisory_xact_lock(@key)";
        // A few creates per portal process wait here at most (VmService.ConcurrentCreates); the
        // request's own cancellation still ends the wait.
        command.CommandTimeout = 120;
        command.Parameters.Add(new NpgsqlParameter("key", Key(scope, id)));
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>A 64-bit key per scope and id; two that collide only wait for each other needlessly.</summary>
    public static long Key(string scope, string id) =>
        BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes($"{scope}:{id}")));
}
