namespace Paddock.Portal.Shared;

/// <summary>
/// Runs a load-decide-save again when another writer changed a version-checked document or stream
/// in between (Marten's <see cref="JasperFx.ConcurrencyException"/>): each attempt reads afresh and
/// decides again. After the last attempt the conflict goes to the caller.
/// </summary>
public static class ConcurrencyRetry
{
    public const int Attempts = 5;

    /// <summary>Runs <paramref name="work"/> (which opens its own session) until it saves without a conflict, at most <see cref="Attempts"/> times.</summary>
    public static async Task RunAsync(Func<Task> work)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await work();
                return;
            }
            catch (JasperFx.ConcurrencyException) when (attempt < Attempts)
            {
                // Someone else's write landed first; read again and decide again.
            }
        }
    }
}
