namespace Paddock.Portal.Shared;

/// <summary>
/// A background service that takes whatever steps are due (each one version-checked, so two portal
/// processes cannot both take it), then sleeps until the next may be due, a change it follows wakes
/// it, or <see cref="MaxSleep"/> passes. Anything but the portal stopping is logged and looked at
/// again a second later: nothing ends a keeper but the portal.
/// </summary>
public abstract class Keeper(TimeProvider clock, ILogger log) : BackgroundService
{
    /// <summary>The longest a keeper sleeps: what another portal process changed is seen within this.</summary>
    public static readonly TimeSpan MaxSleep = TimeSpan.FromSeconds(10);

    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected TimeProvider Clock { get; } = clock;

    protected ILogger Log { get; } = log;

    /// <summary>What the keeper does, for its log ("Evaluating leases").</summary>
    protected abstract string Work { get; }

    /// <summary>Takes every step that is due; returns how long until the next one may be.</summary>
    public abstract Task<TimeSpan> RunOnceAsync(CancellationToken ct);

    /// <summary>Subscribes to the changes that may make a step due sooner than planned, each calling <paramref name="wake"/>; disposed when the keeper stops.</summary>
    protected abstract IEnumerable<IDisposable> Follow(Func<Task> wake);

    /// <summary>At least a second (a step deferred is looked at again then), at most <see cref="MaxSleep"/>.</summary>
    protected static TimeSpan Bounded(TimeSpan next) =>
        next < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : next > MaxSleep ? MaxSleep : next;

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var subscriptions = Follow(WakeAsync).ToList();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var sleep = MaxSleep;
                var wake = _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                try
                {
                    sleep = await RunOnceAsync(stoppingToken);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // Anything but the portal stopping (a timed-out query cancels too) must not end the keeper.
                    sleep = TimeSpan.FromSeconds(1);
                    Log.LogError(e, "{Work} failed; trying again", Work);
                }

                await Task.WhenAny(wake.Task, Task.Delay(sleep, Clock, stoppingToken));
                // Many changes come in bursts (a VM booting or moving reports several): look once per burst.
                await Task.Delay(TimeSpan.FromMilliseconds(500), Clock, stoppingToken);
            }
        }
        finally
        {
            subscriptions.ForEach(s => s.Dispose());
        }
    }

    private Task WakeAsync()
    {
        _wake.TrySetResult();
        return Task.CompletedTask;
    }
}
