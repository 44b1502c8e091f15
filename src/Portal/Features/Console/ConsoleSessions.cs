using System.Collections.Concurrent;
using System.Security.Claims;
using Paddock.Portal.Features.Accounts;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// The console sessions open in this process, by who opened them. Every few seconds each one's user
/// is checked again: a disabled account or a changed password ends its consoles.
/// </summary>
public sealed class ConsoleSessions(UserSessions users, ILogger<ConsoleSessions> log) : BackgroundService, ISessionHolder
{
    public static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Guid, (ClaimsPrincipal User, CancellationTokenSource Stop)> _open = new();

    /// <summary>How many console sessions this process relays now.</summary>
    public int Count => _open.Count;

    /// <summary>Registers a session; its token is cancelled when the session must end. Dispose the result when it ends anyway.</summary>
    public (CancellationToken Token, IDisposable Registration) Open(ClaimsPrincipal user, CancellationToken requestAborted)
    {
        var id = Guid.NewGuid();
        var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        _open[id] = (user, stop);
        return (stop.Token, new Registration(() =>
        {
            _open.TryRemove(id, out _);
            stop.Dispose();
        }));
    }

    /// <summary>Ends every console of <paramref name="userId"/> now (an admin disabled the account here).</summary>
    public void EndFor(Guid userId)
    {
        foreach (var (_, (user, stop)) in _open.Where(s => s.Value.User.UserId() == userId))
        {
            TryCancel(stop);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(CheckEvery);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAllAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The store away: the consoles stay as they are and are checked again at the next tick.
                log.LogError(e, "Checking the consoles' users failed; trying again");
            }
        }
    }

    private async Task CheckAllAsync(CancellationToken ct)
    {
        foreach (var (_, (user, stop)) in _open.ToArray())
        {
            if (!await users.IsCurrentAsync(user, ct))
            {
                log.LogInformation("Ending a console of {User}: the account changed or was disabled", user.Identity?.Name);
                TryCancel(stop);
            }
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

    private sealed class Registration(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
