namespace Paddock.Portal.Shared;

/// <summary>
/// Loads a live page again when what it shows changed: one load at a time, and the changes that
/// come while a load runs make one more load, not one each. A hundred VMs deleted at once would
/// otherwise start a hundred loads of the same page side by side, each holding the store's
/// connections and the circuit.
/// </summary>
/// <param name="invoke">The component's <c>InvokeAsync</c>: the load runs on its circuit.</param>
/// <param name="load">Reads what the page shows and renders it (<c>StateHasChanged</c>).</param>
public sealed class Reloader(Func<Func<Task>, Task> invoke, Func<Task> load)
{
    private readonly Lock _gate = new();
    private bool _running;
    private bool _again;

    /// <summary>Asks for a load: starts one, or marks one to follow the load that runs.</summary>
    public Task RequestAsync()
    {
        lock (_gate)
        {
            if (_running)
            {
                _again = true;
                return Task.CompletedTask;
            }

            _running = true;
        }

        return RunAsync();
    }

    private async Task RunAsync()
    {
        while (true)
        {
            try
            {
                await invoke(load);
            }
            catch
            {
                lock (_gate)
                {
                    (_running, _again) = (false, false);
                }

                throw;
            }

            lock (_gate)
            {
                if (!_again)
                {
                    _running = false;
                    return;
                }

                _again = false;
            }
        }
    }
}
