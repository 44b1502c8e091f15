namespace Paddock.Host.Vms;

/// <summary>At most so many restarts after crashes in any hour: a guest that crashes at boot must not spin forever.</summary>
public static class RestartBudget
{
    /// <summary>Records a restart at <paramref name="now"/> and says yes, or says no when the last hour used them all.</summary>
    public static bool TryTake(List<DateTimeOffset> restarts, DateTimeOffset now, int perHour)
    {
        restarts.RemoveAll(at => at <= now - TimeSpan.FromHours(1));
        if (restarts.Count >= perHour)
        {
            return false;
        }

        restarts.Add(now);
        return true;
    }
}
