using System.ComponentModel.DataAnnotations;

namespace Paddock.Portal.Features.Maintenance;

/// <summary>Settings under <c>Paddock:Maintenance</c>: how evacuations move VMs unless an admin says otherwise.</summary>
public sealed record MaintenanceOptions
{
    public const string Section = "Paddock:Maintenance";

    /// <summary>The most VMs an evacuation may move at once, whatever an admin asks.</summary>
    public const int MaxConcurrency = 16;

    /// <summary>How many VMs an evacuation moves at once when the admin keeps the dialog's default.</summary>
    [Range(1, MaxConcurrency)]
    public int Concurrency { get; init; } = 2;

    /// <summary>How many times a VM that failed to move (or to stop) is tried again before it is reported failed.</summary>
    [Range(0, 10)]
    public int Retries { get; init; } = 2;

    /// <summary>How long a failed VM waits before it is tried again.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Why <paramref name="concurrency"/> is no number of VMs to move at once, or null.</summary>
    public static string? ConcurrencyProblem(int concurrency) =>
        concurrency is < 1 or > MaxConcurrency ? $"VMs moved at a time: 1 to {MaxConcurrency}." : null;
}
