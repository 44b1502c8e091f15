using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
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
public sealed class QemuProcess
{
    // Runs as the VM's uid (after setpriv), so a symlink the VM planted in its own run directory
    // cannot make root append to a host file. Redirections on "exec" apply to the shell itself;
    // if one fails the shell exits (POSIX special built-in). "$@" is QEMU's argv, never parsed as shell text.
    internal const string LaunchScript = "umask 077 && exec </dev/null >>\"$1\" 2>>\"$2\" && shift 2 && exec \"$@\"";

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
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("QemuProcess starts QEMU through setsid and setpriv, which only exist on Linux.");
        ArgumentNullException.ThrowIfNull(argv);
        ArgumentNullException.ThrowIfNull(paths);
        options ??= QemuProcessOptions.Default;
        if (!IsQemuFor(argv, vmId))
            throw new ArgumentException($"argv is not a QEMU command line for VM {vmId} (argv[0] qemu-system-*, '-name guest={vmId}').", nameof(argv));
        if (options.ChangeIds ? uid <= 0 || gid <= 0 : Libc.EffectiveUid() == 0)
            throw new ArgumentOutOfRangeException(nameof(uid), $"QEMU never runs as root (uid {(options.ChangeIds ? uid : 0)}, gid {(options.ChangeIds ? gid : 0)}).");

        if (Attach(vmId, paths) is { } running)
            throw new QemuStartException($"QEMU for VM {vmId} already runs as pid {running.Pid}.", null, []);

        // Stale files from a previous run would satisfy the readiness checks below.
        foreach (var stale in new[] { paths.QmpSocket, paths.VncSocket, paths.SerialSocket, paths.PidFile })
            File.Delete(stale);
        var stderrOffset = SafeLength(paths.Stderr);

        var launcher = LauncherArgv(argv, paths, uid, gid, options);
        var start = new ProcessStartInfo(launcher[0])
        {
            UseShellExecute = false,
            // Pipes only for setsid/setpriv/sh complaints: the script replaces all three before
            // exec'ing QEMU, so QEMU never holds a pipe of this process.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = paths.RunDirectory,
        };
        foreach (var arg in launcher.Skip(1))
            start.ArgumentList.Add(arg);
        // The agent's environment may hold secrets (join token); QEMU gets none of it.
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";

        Libc.MarkInheritedDescriptorsCloseOnExec();
        var launcherOutput = new ConcurrentQueue<string>();
        var child = new Process { StartInfo = start };
        child.OutputDataReceived += (_, e) => Collect(launcherOutput, e.Data);
        child.ErrorDataReceived += (_, e) => Collect(launcherOutput, e.Data);
        try
        {
            child.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            child.Dispose();
            throw new QemuStartException($"Cannot run {launcher[0]}: {e.Message}", null, []);
        }
        child.StandardInput.Close();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();

        // setsid(1) forks only when the caller leads its process group, which a child of .NET
        // does not, so this pid is QEMU's once setsid, setpriv and sh have exec'd in turn.
        var pid = child.Id;
        var deadline = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                if (child.HasExited)
                {
                    await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false); // drains the launcher pipes
                    throw new QemuStartException(
                        $"QEMU for VM {vmId} exited during start with code {child.ExitCode}.",
                        child.ExitCode,
                        [.. launcherOutput, .. ReadStderrTail(paths, 20, stderrOffset)]);
                }
                if (File.Exists(paths.QmpSocket) && ReadPidFile(paths.PidFile) is { } written)
                {
                    if (written != pid)
                        throw new QemuStartException($"QEMU's pidfile names pid {written}, but the process started was {pid}.", null, []);
                    if (ProcStat.TryRead(pid) is { IsDead: false } stat)
                        return new QemuProcess(vmId, paths, pid, stat.StartTime, child, stderrOffset);
                }
                if (deadline.Elapsed > options.StartTimeout)
                    throw new QemuStartException(
                        $"QEMU for VM {vmId} did not create its QMP socket within {options.StartTimeout.TotalSeconds:0} s.",
                        null,
                        [.. launcherOutput, .. ReadStderrTail(paths, 20, stderrOffset)]);
                await Task.Delay(TimeSpan.FromMilliseconds(25), ct).ConfigureAwait(false);
            }
        }
        catch
        {
            if (!child.HasExited)
                Libc.Kill(pid, Libc.SIGKILL);
            throw;
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
            return await QmpClient.ConnectAsync(Paths.QmpSocket, ct, timeout).ConfigureAwait(false);
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

    /// <summary>SIGKILL ("pull the plug" when QMP is gone). False when the process had already gone.</summary>
    public bool Kill() => Signal(Libc.SIGKILL);

    /// <summary>SIGTERM: QEMU shuts down cleanly ("terminating on signal 15").</summary>
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

    /// <summary>The last <paramref name="lines"/> lines of qemu.stderr (empty when there is none).</summary>
    public static IReadOnlyList<string> ReadStderrTail(VmPaths paths, int lines = 20) => ReadStderrTail(paths, lines, 0);

    /// <summary>The last lines of qemu.stderr written after <paramref name="fromOffset"/> (this run's, not earlier runs').</summary>
    internal static IReadOnlyList<string> ReadStderrTail(VmPaths paths, int lines, long fromOffset)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentOutOfRangeException.ThrowIfNegative(lines);
        const int maxBytes = 64 * 1024;
        try
        {
            // The file lives in a directory the VM's uid owns: never follow a symlink it planted.
            using var file = Libc.OpenReadNoFollow(paths.Stderr);
            var start = Math.Max(fromOffset, file.Length - maxBytes);
            if (start >= file.Length)
                return [];
            file.Position = start;
            var buffer = new byte[file.Length - start];
            file.ReadExactly(buffer);
            var text = Encoding.UTF8.GetString(buffer);
            var all = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
            if (all.Count > 0 && all[^1].Length == 0)
                all.RemoveAt(all.Count - 1);
            // A partial first line (cut by maxBytes) is dropped.
            if (start > fromOffset && all.Count > 0)
                all.RemoveAt(0);
            return all.TakeLast(lines).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    /// <summary>
    /// The launcher argv: <c>setsid -- setpriv --reuid U --regid G --clear-groups --no-new-privs -- sh -c SCRIPT paddock-qemu OUT ERR qemu...</c>.
    /// setsid gives QEMU its own session (the agent's death does not reach it); setpriv drops to
    /// the VM's ids before exec, as QEMU's sandbox forbids <c>-runas</c> (elevateprivileges=deny).
    /// </summary>
    internal static IReadOnlyList<string> LauncherArgv(IReadOnlyList<string> argv, VmPaths paths, int uid, int gid, QemuProcessOptions options)
    {
        var ids = CultureInfo.InvariantCulture;
        var launcher = new List<string> { options.SetsidPath, "--" };
        if (options.ChangeIds)
        {
            launcher.AddRange([options.SetprivPath, "--reuid", uid.ToString(ids), "--regid", gid.ToString(ids)]);
            if (options.SupplementaryGroups.Count == 0)
                launcher.Add("--clear-groups");
            else
                launcher.AddRange(["--groups", string.Join(',', options.SupplementaryGroups.Select(g => g.ToString(ids)))]);
            // An SELinux transition on exec does not happen under no_new_privs; QEMU's own
            // sandbox sets it before it installs the seccomp filter.
            if (options.SelinuxLabel is { } label)
                launcher.AddRange(["--selinux-label", label]);
            else
                launcher.Add("--no-new-privs");
            launcher.Add("--");
        }

        launcher.AddRange([options.ShellPath, "-c", LaunchScript, "paddock-qemu", paths.Stdout, paths.Stderr]);
        launcher.AddRange(argv);
        return launcher;
    }

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

    private bool Signal(int signal) => IsRunning && Libc.Kill(Pid, signal);

    private static void Collect(ConcurrentQueue<string> lines, string? line)
    {
        if (line is not null && lines.Count < 20)
            lines.Enqueue(line);
    }

    private static int? ReadPidFile(string path)
    {
        try
        {
            using var file = Libc.OpenReadNoFollow(path);
            var buffer = new byte[32];
            var read = file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            return int.TryParse(Encoding.ASCII.GetString(buffer, 0, read).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
                ? pid
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static List<string>? ReadCmdline(int pid)
    {
        try
        {
            var raw = File.ReadAllBytes($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline");
            var text = Encoding.UTF8.GetString(raw).TrimEnd('\0');
            return text.Length == 0 ? [] : [.. text.Split('\0')];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long SafeLength(string path)
    {
        try
        {
            using var file = Libc.OpenReadNoFollow(path);
            return file.Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
