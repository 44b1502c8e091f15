using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Qemu;

/// <summary>
/// QEMU on a Windows host: launched by the agent itself (<see cref="WindowsLauncher"/>; there is no
/// setsid, setpriv or shell), held in its VM's job object once the agent applies its bounds
/// (<see cref="WindowsJob"/>), and found again after an agent restart by the pid in its pidfile,
/// that process's start time, its image name and its membership of the VM's job. It runs as the
/// agent's own identity: the confinement the agent reports says so. Compiled in CI, never run on Windows.
/// </summary>
public sealed partial class QemuProcess
{
    private static async Task<QemuProcess> StartOnWindowsAsync(
        Guid vmId, IReadOnlyList<string> argv, VmPaths paths, QemuProcessOptions options, CancellationToken ct)
    {
        if (!IsQemuFor(argv, vmId))
            throw new ArgumentException($"argv is not a QEMU command line for VM {vmId} (argv[0] qemu-system-*, '-name guest={vmId}').", nameof(argv));
        if (AttachOnWindows(vmId, paths) is { } running)
            throw new QemuStartException($"QEMU for VM {vmId} already runs as pid {running.Pid}.", null, []);

        // Stale files from a previous run would satisfy the readiness checks.
        Directory.CreateDirectory(paths.QemuDirectory);
        File.Delete(paths.PidFile);
        File.Delete(paths.QmpSocket);
        var stderrOffset = SafeLength(paths.Stderr);
        Process child;
        try
        {
            child = Process.GetProcessById(WindowsLauncher.Start(argv, paths.Stdout, paths.Stderr, paths.QemuDirectory));
        }
        catch (Win32Exception e)
        {
            throw new QemuStartException($"Cannot run {argv[0]}: {e.Message}", null, []);
        }
        catch (ArgumentException)
        {
            throw new QemuStartException($"QEMU for VM {vmId} exited at once.", null, ReadStderrTail(paths, 20, stderrOffset));
        }

        try
        {
            return await WaitUntilReadyAsync(vmId, paths, child, new ConcurrentQueue<string>(), stderrOffset, options.StartTimeout, ct)
                .ConfigureAwait(false);
        }
        catch
        {
            EndOnWindows(child.Id);
            throw;
        }
    }

    private static QemuProcess? AttachOnWindows(Guid vmId, VmPaths paths)
    {
        if (ReadPidFile(paths.PidFile) is not { } pid || ProcStat.TryRead(pid) is not { IsDead: false } stat)
            return null;
        if (!WindowsJob.Holds(JobPlan.NameOf(vmId), pid) || !ImageIsQemu(pid))
            return null;
        // Same incarnation before and after the checks, or the pid was recycled in between.
        return ProcStat.TryRead(pid)?.StartTime == stat.StartTime ? new QemuProcess(vmId, paths, pid, stat.StartTime, null, SafeLength(paths.Stderr)) : null;
    }

    private static bool ImageIsQemu(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.ProcessName.StartsWith("qemu-system-", StringComparison.OrdinalIgnoreCase);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or Win32Exception)
        {
            return false;
        }
    }

    /// <summary>TerminateProcess: Windows has no SIGTERM for a detached process, so a clean end goes through QMP's quit.</summary>
    private static bool EndOnWindows(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or Win32Exception)
        {
            return false;
        }
    }
}
