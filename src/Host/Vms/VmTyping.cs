using System.Collections.Concurrent;

namespace Paddock.Host.Vms;

/// <summary>
/// Each VM's typing: one text at a time (another waits its turn, so two never interleave), and a
/// stop that ends the one being typed and those waiting.
/// </summary>
public sealed class VmTyping
{
    private readonly ConcurrentDictionary<Guid, Keyboard> _keyboards = new();

    private sealed class Keyboard
    {
        public SemaphoreSlim Turn { get; } = new(1, 1);

        public CancellationTokenSource Stop { get; set; } = new();
    }

    /// <summary>Waits for the VM's keyboard; the token it returns is cancelled by <see cref="Stop"/> (or <paramref name="ct"/>). Dispose to let the next text type.</summary>
    public async Task<(IDisposable Turn, CancellationToken Stopped)> TurnAsync(Guid vmId, CancellationToken ct)
    {
        var keyboard = _keyboards.GetOrAdd(vmId, _ => new Keyboard());
        CancellationToken stop;
        lock (keyboard)
            stop = keyboard.Stop.Token;
        var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, stop);
        try
        {
            await keyboard.Turn.WaitAsync(linked.Token);
        }
        catch
        {
            linked.Dispose();
            throw;
        }

        return (new Release(keyboard.Turn, linked), linked.Token);
    }

    /// <summary>Stops the text being typed into the VM and those waiting; texts asked for later type as usual.</summary>
    public void Stop(Guid vmId)
    {
        if (!_keyboards.TryGetValue(vmId, out var keyboard))
            return;
        CancellationTokenSource stopped;
        lock (keyboard)
            (stopped, keyboard.Stop) = (keyboard.Stop, new CancellationTokenSource());
        stopped.Cancel();
        stopped.Dispose();
    }

    private sealed class Release(SemaphoreSlim turn, CancellationTokenSource linked) : IDisposable
    {
        public void Dispose()
        {
            turn.Release();
            linked.Dispose();
        }
    }
}
