using System.Security.Claims;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>One open console session, as every portal process sees it (the process that relays it keeps it).</summary>
public sealed class ConsoleViewer
{
    /// <summary>The id of the ticket it was opened with (<see cref="ConsoleTickets.IdOf"/>): the page that dialled knows its own.</summary>
    public string Id { get; set; } = "";

    public Guid VmId { get; set; }

    public Guid UserId { get; set; }

    public string UserName { get; set; } = "";

    public ConsoleKind Kind { get; set; }

    /// <summary>Opened through a share link: it sees the screen and never reaches the VM.</summary>
    public bool ViewOnly { get; set; }

    /// <summary>The share link it came through (<see cref="ConsoleShare.Id"/>), if it did.</summary>
    public string? ShareId { get; set; }

    /// <summary>Where the browser is, as the portal sees it (behind a trusted proxy, the address it forwarded).</summary>
    public string Address { get; set; } = "";

    public DateTimeOffset Since { get; set; }

    /// <summary>When its portal process last said it is open: one that stopped saying so went with its process.</summary>
    public DateTimeOffset SeenAt { get; set; }

    /// <summary>Why someone or something else ended it (disconnected, taken over, access ended); null while it runs or when it ended by itself.</summary>
    public string? EndedBecause { get; set; }
}

/// <summary>The sessions of a VM's consoles changed: who is connected, or a session was ended.</summary>
public sealed record ConsoleViewersChanged(Guid VmId);

/// <summary>
/// Who is connected to a VM's consoles, across every portal process, and ending a session: the
/// owner or an admin disconnects a viewer. A session is ended by marking it with the reason; the
/// process that relays it hears the change and closes it at once, and its page reads the reason.
/// </summary>
public sealed class ConsoleViewers(IDocumentStore store, Shared.ChangeNotifier<ConsoleViewersChanged> changes, Shared.Audit audit, TimeProvider clock)
{
    /// <summary>A session not heard of for this long went with its portal process.</summary>
    public static readonly TimeSpan Stale = ConsoleSessions.CheckEvery * 4;

    /// <summary>The VM's open sessions, the oldest first.</summary>
    public async Task<IReadOnlyList<ConsoleViewer>> ListAsync(Guid vmId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var after = clock.GetUtcNow() - Stale;
        return await session.Query<ConsoleViewer>()
            .Where(v => v.VmId == vmId && v.EndedBecause == null && v.SeenAt > after)
            .OrderBy(v => v.Since).Take(200).ToListAsync(ct);
    }

    /// <summary>Why the session opened with <paramref name="ticketId"/> was ended by someone else; null if it was not.</summary>
    public async Task<string?> EndedBecauseAsync(string ticketId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        return (await session.LoadAsync<ConsoleViewer>(ticketId, ct))?.EndedBecause;
    }

    /// <summary>The owner or an admin ends someone's session of the VM's console.</summary>
    public async Task DisconnectAsync(ClaimsPrincipal by, Guid vmId, string viewerId, CancellationToken ct = default)
    {
        string name;
        await using (var session = store.QuerySession())
        {
            await VmRights.LoadAsync(session, by, vmId, VmAction.ManageViewers, ct);
            var viewer = await session.LoadAsync<ConsoleViewer>(viewerId, ct);
            if (viewer is null || viewer.VmId != vmId || viewer.EndedBecause is not null)
            {
                return;
            }

            name = viewer.UserName;
        }

        await EndAsync(vmId, [viewerId], $"Disconnected by {by.Identity?.Name}.", ct);
        await audit.RecordAsync(by, Shared.AuditKind.ConsoleChanged, $"Disconnected {name} from the console", ct, vmId);
    }

    /// <summary>Ends the sessions <paramref name="ids"/> of the VM with the reason their pages show.</summary>
    public async Task EndAsync(Guid vmId, IReadOnlyCollection<string> ids, string because, CancellationToken ct = default)
    {
        foreach (var id in ids)
        {
            await Shared.ConcurrencyRetry.RunAsync(async () =>
            {
                await using var session = store.LightweightSession();
                if (await session.LoadAsync<ConsoleViewer>(id, ct) is { EndedBecause: null } viewer)
                {
                    viewer.EndedBecause = because;
                    session.Store(viewer);
                    await session.SaveChangesAsync(ct);
                }
            });
        }

        changes.Publish(new ConsoleViewersChanged(vmId));
    }
}

/// <summary>A session's record outlives it a while (its page reads why it ended); then it goes.</summary>
public sealed class ConsoleViewerExpiry : Shared.IExpiredState
{
    public static readonly TimeSpan Kept = TimeSpan.FromMinutes(10);

    public void Purge(IDocumentSession session, DateTimeOffset now)
    {
        var before = now - Kept;
        session.DeleteWhere<ConsoleViewer>(v => v.SeenAt < before);
    }
}
