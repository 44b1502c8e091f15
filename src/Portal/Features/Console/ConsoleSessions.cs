using System.Collections.Concurrent;
using System.Security.Claims;
using Marten;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// The console sessions this process relays. Each is recorded as a <see cref="ConsoleViewer"/> that
/// every process lists, and checked again every few seconds and at once whenever a VM, a group, an
/// account or a VM's sessions change: a disabled account, a changed password, a VM no longer
/// shared with the viewer, a revoked share link or someone's Disconnect ends the session then.
/// </summary>
public sealed class ConsoleSessions : BackgroundService, ISessionHolder
{
    public static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);

    /// <summary>One session: who, whether they may still watch (null when they may, else why not), and its end.</summary>
    private sealed record Session(ConsoleViewer Viewer, ClaimsPrincipal User, Func<CancellationToken, Task<string?>> WhyNotAdmitted, CancellationTokenSource Stop, Task<bool> Recorded);

    private readonly ConcurrentDictionary<string, Session> _open = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly IDocumentStore _store;
    private readonly UserSessions _users;
    private readonly ChangeNotifier<ConsoleViewersChanged> _changes;
    private readonly ConsoleViewers _viewers;
    private readonly TimeProvider _clock;
    private readonly ILogger<ConsoleSessions> _log;
    private readonly IDisposable[] _subscriptions;

    public ConsoleSessions(IDocumentStore store, UserSessions users, ConsoleViewers viewers, TimeProvider clock, ILogger<ConsoleSessions> log,
        ChangeNotifier<ConsoleViewersChanged> changes, ChangeNotifier<VmChanged> vms, ChangeNotifier<GroupsChanged> groups, ChangeNotifier<UsersChanged> accounts)
    {
        (_store, _users, _viewers, _changes, _clock, _log) = (store, users, viewers, changes, clock, log);
        _subscriptions =
        [
            changes.Subscribe(c => WakeFor(c.VmId)),
            vms.Subscribe(c => WakeFor(c.VmId)),
            groups.Subscribe(_ => Wake()),
            accounts.Subscribe(_ => Wake()),
        ];
    }

    /// <summary>How many console sessions this process relays now.</summary>
    public int Count => _open.Count;

    /// <summary>
    /// Registers a session that opens; its token is cancelled when it must end. Its record is
    /// written meanwhile (the console's bytes do not wait for the database), and under the VM's
    /// take-over policy a session with control then ends the other sessions with control.
    /// Dispose the result when it ends anyway.
    /// </summary>
    /// <param name="whyNotAdmitted">Asked at every check: null while the viewer may still watch, else the reason the page shows.</param>
    public (CancellationToken Token, IAsyncDisposable Registration) Open(
        ConsoleViewer viewer, ClaimsPrincipal user, Func<CancellationToken, Task<string?>> whyNotAdmitted, bool takeOver, CancellationToken requestAborted)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        viewer.Since = viewer.SeenAt = _clock.GetUtcNow();
        var open = new Session(viewer, user, whyNotAdmitted, stop, RecordAsync(viewer, takeOver));
        _open[viewer.Id] = open;
        return (stop.Token, new Registration(async () =>
        {
            await open.Recorded;
            await CloseAsync(viewer);
        }));
    }

    /// <summary>Writes the session's record (and takes over, when it does); whether it was written.</summary>
    private async Task<bool> RecordAsync(ConsoleViewer viewer, bool takeOver)
    {
        try
        {
            await using (var session = _store.LightweightSession())
            {
                session.Store(viewer);
                await session.SaveChangesAsync();
            }

            var others = takeOver && !viewer.ViewOnly
                ? (await _viewers.ListAsync(viewer.VmId)).Where(v => v.Id != viewer.Id && !v.ViewOnly).Select(v => v.Id).ToList()
                : [];
            if (others.Count > 0)
            {
                await _viewers.EndAsync(viewer.VmId, others, $"Taken over by {viewer.UserName}.");
            }
            else
            {
                _changes.Publish(new ConsoleViewersChanged(viewer.VmId));
            }

            return true;
        }
        catch (Exception e)
        {
            // The store away: the session runs unlisted, its viewer still checked.
            _log.LogWarning("Could not record a console session of {User} on VM {Vm}: {Message}", viewer.UserName, viewer.VmId, e.Message);
            return false;
        }
    }

    /// <summary>Ends every console of <paramref name="userId"/> now (an admin disabled the account here).</summary>
    public void EndFor(Guid userId)
    {
        foreach (var open in _open.Values.Where(o => o.Viewer.UserId == userId))
        {
            TryCancel(open.Stop);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await _wake.WaitAsync(CheckEvery, stoppingToken);
            try
            {
                await CheckAllAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The store away: the consoles stay as they are and are checked again at the next tick.
                _log.LogError(e, "Checking the consoles' users failed; trying again");
            }
        }
    }

    public override void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }

        base.Dispose();
    }

    private Task WakeFor(Guid vmId) => _open.Values.Any(o => o.Viewer.VmId == vmId) ? Wake() : Task.CompletedTask;

    private Task Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // A check is already due.
        }

        return Task.CompletedTask;
    }

    private async Task CheckAllAsync(CancellationToken ct)
    {
        // A session whose record is still being written is checked next time.
        var checking = _open.Values.Where(o => o.Recorded.IsCompleted).ToList();
        if (checking.Count == 0)
        {
            return;
        }

        await using var session = _store.LightweightSession();
        var stored = (await session.LoadManyAsync<ConsoleViewer>(ct, checking.Select(o => o.Viewer.Id))).ToDictionary(v => v.Id);
        // Ended only once the reason is stored: the page that sees its socket close reads it then.
        var ending = new List<CancellationTokenSource>();
        foreach (var open in checking)
        {
            stored.TryGetValue(open.Viewer.Id, out var viewer);
            var why = viewer is null && open.Recorded.Result ? "The session was ended."
                : viewer?.EndedBecause is { } ended ? ended
                : !await _users.IsCurrentAsync(open.User, ct) ? "Your account changed or was disabled; sign in again."
                : await open.WhyNotAdmitted(ct);
            if (why is null)
            {
                if (viewer is not null)
                {
                    viewer.SeenAt = _clock.GetUtcNow();
                    session.Store(viewer);
                }

                continue;
            }

            _log.LogInformation("Ending a console of {User} on VM {Vm}: {Why}", open.Viewer.UserName, open.Viewer.VmId, why);
            if (viewer is { EndedBecause: null })
            {
                viewer.EndedBecause = why;
                session.Store(viewer);
            }

            ending.Add(open.Stop);
        }

        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (JasperFx.ConcurrencyException)
        {
            // A session was ended elsewhere meanwhile: read again now.
            await Wake();
        }
        finally
        {
            ending.ForEach(TryCancel);
        }
    }

    /// <summary>The session ended: its record goes, unless someone ended it (its page reads why).</summary>
    private async ValueTask CloseAsync(ConsoleViewer viewer)
    {
        if (_open.TryRemove(viewer.Id, out var open))
        {
            open.Stop.Dispose();
        }

        try
        {
            await using var session = _store.LightweightSession();
            session.DeleteWhere<ConsoleViewer>(v => v.Id == viewer.Id && v.EndedBecause == null);
            await session.SaveChangesAsync(CancellationToken.None);
            _changes.Publish(new ConsoleViewersChanged(viewer.VmId));
        }
        catch (Exception e)
        {
            // The store away: the record goes stale and then is purged.
            _log.LogWarning("Could not remove the record of a closed console session: {Message}", e.Message);
        }
    }

    private static void TryCancel(CancellationTokenSource stop)
    {
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The session ended by itself meanwhile.
        }
    }

    private sealed class Registration(Func<ValueTask> dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => dispose();
    }
}
