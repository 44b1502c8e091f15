namespace Paddock.Host.Migration;

/// <summary>
/// What one VM's migration holds on this host: the channels to the portal (ended together), the
/// source's move (cancelled by CancelMigration), and whether the source's guest stands still after a
/// whole move (it runs again only if the migration is called off).
/// </summary>
public sealed class MigrationState : IDisposable
{
    private readonly CancellationTokenSource _channels = new();
    private readonly List<Task> _running = [];
    private readonly Lock _lock = new();

    public MigrationState(Guid migrationId) => MigrationId = migrationId;

    public Guid MigrationId { get; }

    /// <summary>Ends with the migration: every channel's splice stops.</summary>
    public CancellationToken ChannelsEnd => _channels.Token;

    /// <summary>Cancels the source's move under way.</summary>
    public CancellationTokenSource Move { get; } = new();

    /// <summary>The source moved the VM whole; its guest stands still here.</summary>
    public bool MovedOut { get; set; }

    public void Track(Task channel)
    {
        lock (_lock)
        {
            _running.Add(channel);
        }
    }

    /// <summary>Ends every channel and waits (briefly) for their splices to stop.</summary>
    public async Task EndChannelsAsync()
    {
        await _channels.CancelAsync();
        Task[] running;
        lock (_lock)
        {
            running = [.. _running];
        }

        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    public void Dispose()
    {
        _channels.Dispose();
        Move.Dispose();
    }
}
