namespace Paddock.Portal.Shared;

/// <summary>
/// A background part of the portal that acts on every change of one kind, whichever portal process
/// it was made through: subscribed while the portal runs.
/// </summary>
public abstract class ChangeFollower<TChange>(ChangeNotifier<TChange> changes) : IHostedService
{
    private IDisposable? _subscription;

    protected abstract Task OnChangeAsync(TChange change);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = changes.Subscribe(OnChangeAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }
}
