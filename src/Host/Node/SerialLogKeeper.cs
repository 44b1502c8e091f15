using Microsoft.Extensions.Options;
using Paddock.Engine.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// Keeps every running VM's serial log under <see cref="AgentOptions.SerialLogMaxMiB"/>: a guest
/// that prints for ever would otherwise fill the host's disk (QEMU's log file has no limit of its own).
/// </summary>
/// <remarks>
/// Only running VMs are checked: a stopped VM's log does not grow, and a VM being deleted is not
/// running, so no rotation writes into a directory that is being removed. A VM that stopped over
/// the cap is rotated after its next start.
/// </remarks>
public sealed class SerialLogKeeper(
    IOptions<AgentOptions> options, Func<IReadOnlyList<Guid>> runningVms, TimeProvider clock, ILogger<SerialLogKeeper> log) : BackgroundService
{
    private long CapBytes => (long)(options.Value.SerialLogMaxMiB * 1024 * 1024);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SerialLogCheckInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
            await CheckAsync(stoppingToken);
    }

    /// <summary>One round: rotates each running VM's log that is over the cap.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        foreach (var vmId in runningVms())
        {
            try
            {
                if (await SerialLog.RotateIfOverAsync(VmPaths.For(options.Value.VmsDir, vmId), CapBytes, ct) is { } dropped)
                    log.LogInformation("Serial log of VM {Vm} rotated; {Dropped} bytes of its output dropped so far", vmId, dropped);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // One VM's log (gone with its VM, or tampered with) must not stop the others'.
                log.LogWarning("Serial log of VM {Vm} not rotated: {Message}", vmId, e.Message);
            }
        }
    }
}
