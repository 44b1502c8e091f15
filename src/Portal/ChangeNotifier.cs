using System.Collections.Concurrent;

namespace Paddock.Portal;

/// <summary>
/// Tells subscribed components that something changed. Components subscribe and dispose; the handler
/// re-renders through InvokeAsync. Pages never open a SignalR client to their own server.
/// </summary>
public sealed class ChangeNotifier<TChange>(ILogger<ChangeNotifier<TChange>> log)
{
    private readonly ConcurrentDictionary<Guid, Func<TChange, Task>> _subscribers = new();

    public IDisposable Subscribe(Func<TChange, Task> handler)
    {
        var id = Guid.NewGuid();
        _subscribers[id] = handler;
        return new Subscription(() => _subscribers.TryRemove(id, out _));
    }

    public void Publish(TChange change)
    {
        foreach (var handler in _subscribers.Values)
        {
            _ = Deliver(handler, change);
        }
    }

    private async Task Deliver(Func<TChange, Task> handler, TChange change)
    {
        try
        {
            await handler(change);
        }
        catch (Exception e)
        {
            // A circuit that went away must not stop the others from hearing about the change.
            log.LogDebug(e, "A change subscriber failed");
        }
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                dispose();
            }
        }
    }
}
