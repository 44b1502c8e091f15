using System.Collections.Concurrent;
using System.Text.Json;

namespace Paddock.Portal.Shared;

/// <summary>
/// Tells subscribed components that something changed. Components subscribe and dispose; the handler
/// re-renders through InvokeAsync. Pages never open a SignalR client to their own server. What this
/// process publishes its own subscribers hear at once, and those of the other portal processes on
/// the same database through the <see cref="ChangeBus"/>: each hears a change once.
/// </summary>
public sealed class ChangeNotifier<TChange>
{
    private static readonly string Kind = typeof(TChange).Name;

    private readonly ConcurrentDictionary<Guid, Func<TChange, Task>> _subscribers = new();
    private readonly ChangeBus _bus;
    private readonly ILogger<ChangeNotifier<TChange>> _log;

    private static readonly bool Local = typeof(TChange).IsDefined(typeof(LocalChangeAttribute), inherit: false);

    public ChangeNotifier(ChangeBus bus, ILogger<ChangeNotifier<TChange>> log)
    {
        (_bus, _log) = (bus, log);
        if (Local)
        {
            return;
        }

        bus.Register(Kind, notice =>
        {
            if (JsonSerializer.Deserialize<TChange>(notice) is { } change)
            {
                Deliver(change);
            }
        });
    }

    public IDisposable Subscribe(Func<TChange, Task> handler)
    {
        var id = Guid.NewGuid();
        _subscribers[id] = handler;
        return new Subscription(() => _subscribers.TryRemove(id, out _));
    }

    /// <summary>Tells this process's subscribers, then the other processes'.</summary>
    public void Publish(TChange change)
    {
        Deliver(change);
        if (!Local)
        {
            _bus.Send(Kind, JsonSerializer.Serialize(change));
        }
    }

    private void Deliver(TChange change)
    {
        foreach (var handler in _subscribers.Values)
        {
            _ = DeliverAsync(handler, change);
        }
    }

    private async Task DeliverAsync(Func<TChange, Task> handler, TChange change)
    {
        try
        {
            await handler(change);
        }
        catch (Exception e)
        {
            // A circuit that went away must not stop the others from hearing about the change.
            _log.LogDebug(e, "A change subscriber failed");
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

/// <summary>
/// A change only the process it happened in can show (what it names lives in that process's memory,
/// such as a migration's latest progress): never sent to the other portal processes.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class LocalChangeAttribute : Attribute;
