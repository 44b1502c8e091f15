using Paddock.Engine.Contract;
using Paddock.Engine.Qmp;
using Paddock.Host.Node;

namespace Paddock.Host.Vms;

/// <summary>
/// Resumes the guests QEMU paused because a disk write met a full host file system (a drive's
/// <c>werror=enospc</c>), once that file system has room again, as oVirt's "auto resume" does: the
/// guest never saw the error, so it simply goes on. Until then the VM shows Paused with the reason;
/// its owner may also resume it by hand, and a guest that meets the full disk again pauses again.
/// </summary>
public sealed class SpaceResumer(VmTable vms, DiskSpaceGuard disk, ILogger<SpaceResumer> log) : BackgroundService
{
    /// <summary>What the VM's page says while the guest waits for room.</summary>
    public const string PausedDetail =
        "The host's disk is full: QEMU paused the guest when a disk write failed. It goes on by itself once the host has room again.";

    /// <summary>The free space that counts as room again: a guest resumed into less would likely pause at once.</summary>
    public const long Room = 64L * 1024 * 1024;

    private static readonly TimeSpan Every = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var waiting = vms.All.Where(v => v.PausedForRoom && v.State == VmPowerState.Paused && v.Qmp is not null).ToList();
            if (waiting.Count == 0 || disk.FreeBytes() < Room)
            {
                continue;
            }

            foreach (var vm in waiting)
            {
                try
                {
                    await vm.Qmp!.ContAsync(stoppingToken, QmpCommands.Brief);
                    log.LogInformation("VM {Vm}: the host has room again; its guest goes on", vm.Id);
                }
                catch (Exception e) when (e is QmpException or IOException or TimeoutException or ObjectDisposedException)
                {
                    log.LogWarning("VM {Vm}: could not resume its guest after the disk had room again: {Message}", vm.Id, e.Message);
                }
            }
        }
    }
}
