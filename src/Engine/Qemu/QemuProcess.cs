using System.Collections.Concurrent;
using System.Diagnostics;
using Paddock.Engine.Interop;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Qemu;

/// <summary>
/// One running QEMU: started here or re-attached after an agent restart. QEMU outlives its agent:
/// it runs in its own session, in the foreground, as the VM's uid/gid, with its output in files.
/// </summary>
/// <remarks>
/// Liveness is judged from <c>/proc/&lt;pid&gt;/stat</c> (a zombie counts as dead) and the pid's start
/// time (pids get reused), never from <c>kill(pid, 0)</c>: an orphaned QEMU that exits stays a
/// zombie where PID 1 does not reap, and kill(pid, 0) still succeeds on a zombie.
/// </remarks>
public sealed partial class QemuProcess
{
    private readonly ulong _startTime;
    private readonly Process? _child;
    private readonly long _stderrOffset;

    private QemuProcess(Guid vmId, VmPaths paths, int pid, ulong startTime, Process? child, long stderrOffset)
    {
        VmId = vmId;
        Paths = paths;
        Pid = pid;
        _startTime = startTime;
        _child = child;
        _stderrOffset = stderrOffset;
    }

    public Guid VmId { get; }

    public VmPaths Paths { get; }

    public int Pid { get; }

    /// <summary>Whether this process (same pid and start time) still exists and is not a zombie.</summary>
    public bool IsRunning => ProcStat.TryRead(Pid) is { IsDead: false } stat && stat.StartTime == _startTime;

    /// <summary>QEMU's exit code when it was started by this agent and has exited; null otherwise.</summary>
    public int? ExitCode => _child is { HasExited: true } child ? child.ExitCode : null;

    /// <summary>Whether <paramref name="pid"/> exists and is not a zombie (from <c>/proc/&lt;pid&gt;/stat</c>).</summary>
    public static bool IsAlive(int pid) => ProcStat.TryRead(pid) is { IsDead: false };

    /// <summary>
    /// Starts QEMU for VM <paramref name="vmId"/> with <paramref name="argv"/> (from
    /// <see cref="QemuCommandLine.Build"/>, which must name this VM and have a <c>-pidfile</c> in
    /// <paramref name="paths"/>). Returns once the QMP socket and the pidfile exist and QEMU is alive.
    /// </summary>
    /// <exception cref="QemuStartException">QEMU exited early (message has the tail of qemu.stderr), timed out, or already runs.</exception>
    public static async Task<QemuProcess> StartAsync(
        Guid vmId, IReadOnlyList<string> argv, VmPaths paths, int uid, int gid, QemuProcessOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(argv);
        ArgumentNullException.ThrowIfNull(paths);
        options ??= QemuProcessOptions.Default;
        if (OperatingSystem.IsWindows())
            return await StartOnWindowsAsync(vmId, argv, paths, options, ct).ConfigureAwait(false);
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("QemuProcess starts QEMU on Linux (setsid, setpriv) and on Windows (CreateProcess, a job object).");
        CheckStartArguments(vmId, argv, uid, gid, options);

        if (Attach(vmId, paths) is { } running)
            throw new QemuStartException($"QEMU for VM {vmId} already runs as pid {running.Pid}.", null, []);

        // Stale files from a previous run would satisfy the readiness checks below; the VM's uid
        // empties its own directory (root never deletes a name there).
        RunDirectory.PrepareQemuDirectory(paths, options.ChangeIds ? uid : Libc.EffectiveUid(), options.ChangeIds ? gid : Libc.EffectiveGid());
        var stderrOffset = SafeLength(paths.Stderr);

        var launcherOutput = new ConcurrentQueue<string>();
        var child = Launch(LauncherArgv(argv, paths, uid, gid, options), paths, launcherOutput);
        try
        {
            return await WaitUntilReadyAsync(vmId, paths, child, launcherOutput, stderrOffset, options.StartTimeout, ct).ConfigureAwait(false);
        }
        catch
        {
            if (!child.HasExited)
                Libc.Kill(child.Id, Libc.SIGKILL);
            throw;
        }
    }

    /// <summary>Refuses an argv that is not QEMU for this VM, and ids that would run QEMU as root.</summary>
    private static void CheckStartArguments(Guid vmId, IReadOnlyList<string> argv, int uid, int gid, QemuProcessOptions options)
    {
        if (!IsQemuFor(argv, vmId))
        {
            throw new ArgumentException(
                $"argv is not a QEMU command line for VM {vmId} (argv[0] qemu-system-*, '-name guest={vmId}').", nameof(argv));
        }

        if (options.ChangeIds ? uid <= 0 || gid <= 0 : Libc.EffectiveUid() == 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(uid), $"QEMU never runs as root (uid {(options.ChangeIds ? uid : 0)}, gid {(options.ChangeIds ? gid : 0)}).");
        }
    }

    /// <summary>
    /// Re-attaches to the QEMU of VM <paramref name="vmId"/> named by its pidfile, if that pid is
    /// alive and its <c>/proc/&lt;pid&gt;/cmdline</c> is QEMU for this VM; null otherwise. Whom it
    /// runs as is not a reason to look away: the caller reads it and reports it.
    /// </summary>
    public static QemuProcess? Attach(Guid vmId, VmPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (OperatingSystem.IsWindows())
            return AttachOnWindows(vmId, paths);
        if (!OperatingSystem.IsLinux() || ReadPidFile(paths.PidFile) is not { } pid)
            return null;
        if (ProcStat.TryRead(pid) is not { IsDead: false } stat)
            return null;
        if (ReadCmdline(pid) is not { } cmdline || !IsQemuFor(cmdline, vmId))
            return null;
        // Same incarnation before and after the checks, or the pid was recycled in between.
        if (ProcStat.TryRead(pid)?.StartTime != stat.StartTime)
            return null;
        return new QemuProcess(vmId, paths, pid, stat.StartTime, null, SafeLength(paths.Stderr));
    }

    /// <summary>
    /// Connects a <see cref="QmpClient"/> to this QEMU. QEMU creates the socket before it builds
    /// devices, so a bad device line still ends QEMU after <see cref="StartAsync"/> returned: then
    /// this throws <see cref="QemuStartException"/> with the tail of qemu.stderr.
    /// </summary>
    public async Task<QmpClient> ConnectQmpAsync(CancellationToken ct = default, TimeSpan? timeout = null)
    {
        try
        {
            // The socket's name is in the VM's own directory: only this QEMU may answer on it.
            return await QmpClient.ConnectAsync(Paths.QmpSocket, ct, timeout, expectedPeer: Pid).ConfigureAwait(false);
        }
        catch (QmpException e)
        {
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false))
                throw;
            throw new QemuStartException(
                $"QEMU for VM {VmId} (pid {Pid}) exited before its monitor answered ({e.Message}).",
                ExitCode,
                ReadStderrTail(Paths, 20, _stderrOffset));
        }
    }

    /// <summary>SIGKILL ("pull the plug" when QMP is gone; TerminateProcess on Windows). False when the process had already gone.</summary>
    public bool Kill() => Signal(Libc.SIGKILL);

    /// <summary>SIGTERM: QEMU shuts down cleanly ("terminating on signal 15"). On Windows the same as <see cref="Kill"/>.</summary>
    public bool Terminate() => Signal(Libc.SIGTERM);

    /// <summary>Polls until the process is gone or a zombie; true when it exited within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        while (IsRunning)
        {
            if (clock.Elapsed >= timeout)
                return false;
            await Task.Delay(TimeSpan.FromMilliseconds(25), ct).ConfigureAwait(false);
        }

        // A child of this agent is reaped by .NET a moment after /proc says it died; wait for
        // that too, so that ExitCode is known.
        if (_child is { } child)
        {
            using var reaped = CancellationTokenSource.CreateLinkedTokenSource(ct);
            reaped.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                await child.WaitForExitAsync(reaped.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // Not reaped within a second: the exit code stays unknown.
            }
        }

        return true;
    }

    /// <summary>How QEMU ended, in words: its exit status, the signal that killed it, or unknown (a re-attached QEMU).</summary>
    public string DescribeExit() => ExitCode switch
    {
        null => "exit status unknown",
        > 128 and < 160 and var code => $"killed by signal {code - 128}",
        var code => $"exit status {code}",
    };

    /// <summary>Whether a command line is QEMU's (argv[0] <c>qemu-system-*</c>) and names VM <paramref name="vmId"/> (<c>-name guest=ID</c>).</summary>
    internal static bool IsQemuFor(IReadOnlyList<string> cmdline, Guid vmId)
    {
        if (cmdline.Count == 0 || !Path.GetFileName(cmdline[0]).StartsWith("qemu-system-", StringComparison.Ordinal))
            return false;
        var guest = $"guest={vmId:D}";
        for (var i = 0; i + 1 < cmdline.Count; i++)
        {
            if (cmdline[i] == "-name" && (cmdline[i + 1] == guest || cmdline[i + 1].StartsWith(guest + ",", StringComparison.Ordinal)))
                return true;
        }
        return false;
    }

    private bool Signal(int signal) => IsRunning && (OperatingSystem.IsWindows() ? EndOnWindows(Pid) : Libc.Kill(Pid, signal));


}
