using Paddock.Engine.Qmp;

namespace Paddock.Engine.Recipes;

/// <summary>
/// Asking a guest to stop or restart, and making it: the sequences behind Shutdown, Reboot, Reset
/// and Power off (Proxmox's qemu-server does the same with qm shutdown's --timeout and --forceStop).
/// The caller says when QEMU has exited or the guest has reset (from QMP events and process exit);
/// these recipes only send and wait.
/// </summary>
public static class PowerSequences
{
    /// <summary>How often Shutdown presses the power button again.</summary>
    public static readonly TimeSpan ShutdownReask = TimeSpan.FromSeconds(10);

    /// <summary>How long Power off waits for QEMU to quit before it kills it, and for the kill to take.</summary>
    public static readonly TimeSpan PowerOffGrace = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Presses the ACPI power button, again every <paramref name="reask"/> (a guest that was still
    /// booting may have missed the first press), until <paramref name="exited"/> completes (true) or
    /// <paramref name="timeout"/> passes (false). <paramref name="ct"/> cancels the wait. With
    /// <paramref name="asked"/> (the guest agent took the request already) the first press waits a
    /// <paramref name="reask"/>.
    /// </summary>
    public static async Task<bool> ShutdownAsync(
        QmpClient qmp, Task exited, TimeSpan timeout, TimeProvider clock, CancellationToken ct, TimeSpan? reask = null, bool asked = false)
    {
        var deadline = clock.GetUtcNow() + timeout;
        while (clock.GetUtcNow() < deadline)
        {
            if (!asked)
                await qmp.TryAsync(q => q.SystemPowerdownAsync(timeout: QmpCommands.Brief)).ConfigureAwait(false);
            asked = false;
            var left = deadline - clock.GetUtcNow();
            var wait = (reask ?? ShutdownReask) < left ? reask ?? ShutdownReask : left;
            if (await CompletesAsync(exited, wait, ct).ConfigureAwait(false))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Presses Ctrl-Alt-Del (there is no ACPI reboot button: it is how a PC asks its OS to restart)
    /// and waits for <paramref name="resetSeen"/> (true) or <paramref name="timeout"/> (false).
    /// </summary>
    public static async Task<bool> RebootAsync(QmpClient qmp, Task resetSeen, TimeSpan timeout, CancellationToken ct)
    {
        await qmp.SendKeyAsync(["ctrl", "alt", "delete"], ct).ConfigureAwait(false);
        return await CompletesAsync(resetSeen, timeout, ct).ConfigureAwait(false);
    }

    /// <summary>Resets the machine; a paused guest is resumed, since it restarts running (QMP's RESUME event reports it).</summary>
    public static async Task ResetAsync(QmpClient qmp, bool paused)
    {
        await qmp.SystemResetAsync().ConfigureAwait(false);
        if (paused)
        {
            await qmp.ContAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Asks QEMU to quit (when its monitor is there) and, when it has not exited within
    /// <paramref name="grace"/>, kills it and waits as long again. QEMU may already be gone: a
    /// failed quit is no error, its exit is what counts.
    /// </summary>
    public static async Task PowerOffAsync(QmpClient? qmp, Task exited, Action kill, TimeSpan? grace = null)
    {
        if (qmp is not null)
        {
            await qmp.TryAsync(q => q.QuitAsync(timeout: QmpCommands.Brief)).ConfigureAwait(false);
        }

        if (!await CompletesAsync(exited, grace ?? PowerOffGrace, CancellationToken.None).ConfigureAwait(false))
        {
            kill();
            await CompletesAsync(exited, grace ?? PowerOffGrace, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>True when <paramref name="task"/> completes within <paramref name="within"/>.</summary>
    public static async Task<bool> CompletesAsync(Task task, TimeSpan within, CancellationToken ct)
    {
        if (within <= TimeSpan.Zero)
        {
            return task.IsCompleted;
        }

        try
        {
            await task.WaitAsync(within, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}
