using JasperFx;
using Npgsql;

namespace Paddock.Portal.Shared;

/// <summary>What a save that lost to another writer ran into.</summary>
public static class StoreConflicts
{
    /// <summary>The unique index (its constraint's name) or stream id another transaction took first; null when <paramref name="e"/> is no such conflict.</summary>
    public static string? UniqueViolation(Exception e)
    {
        // The database's own word first: Marten wraps some unique violations (a label drawn twice) in
        // DocumentAlreadyExistsException, whose constraint is only in the PostgresException inside.
        for (var inner = (Exception?)e; inner is not null; inner = inner.InnerException)
        {
            if (inner is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } pg)
            {
                return pg.ConstraintName ?? pg.MessageText;
            }
        }

        for (var inner = (Exception?)e; inner is not null; inner = inner.InnerException)
        {
            if (inner is DocumentAlreadyExistsException or Marten.Exceptions.ExistingStreamIdCollisionException or JasperFx.Events.ExistingStreamIdCollisionException)
            {
                return "stream";
            }
        }

        return null;
    }
}
