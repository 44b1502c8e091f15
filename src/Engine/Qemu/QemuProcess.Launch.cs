using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Paddock.Engine.Interop;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Qemu;

/// <summary>How QEMU is launched (setsid, setpriv, a small shell script) and awaited until it is ready.</summary>
public sealed partial class QemuProcess
{
    // Runs as the VM's uid (after setpriv), so a symlink the VM planted in its own run directory
    // cannot make root append to a host file. Redirections on "exec" apply to the shell itself;
    // if one fails the shell exits (POSIX special built-in). "$@" is QEMU's argv, never parsed as shell text.
    internal const string LaunchScript = "umask 077 && exec </dev/null >>\"$1\" 2>>\"$2\" && shift 2 && exec \"$@\"";

    /// <summary>
    /// The launcher argv: <c>setsid -- setpriv --reuid U --regid G --clear-groups --inh-caps=-all
    /// --ambient-caps=-all --bounding-set=-all --no-new-privs -- sh -c SCRIPT paddock-qemu OUT ERR
    /// qemu...</c>.
    /// setsid gives QEMU its own session (the agent's death does not reach it); setpriv drops to
    /// the VM's ids before exec, as QEMU's sandbox forbids <c>-runas</c> (elevateprivileges=deny).
    /// </summary>
    internal static IReadOnlyList<string> LauncherArgv(IReadOnlyList<string> argv, VmPaths paths, int uid, int gid, QemuProcessOptions options)
    {
        var ids = CultureInfo.InvariantCulture;
        var launcher = new List<string> { options.SetsidPath, "--", options.SetprivPath };
        if (options.ChangeIds)
        {
            launcher.AddRange(["--reuid", uid.ToString(ids), "--regid", gid.ToString(ids)]);
            if (options.SupplementaryGroups.Count == 0)
                launcher.Add("--clear-groups");
            else
                launcher.AddRange(["--groups", string.Join(',', options.SupplementaryGroups.Select(g => g.ToString(ids)))]);
            // Where SELinux enforces, the exec below transitions to the VM's context. Under
            // no_new_privs the kernel allows that only if the policy bounds the target domain by
            // the agent's or grants it process2:nnp_transition (Linux >= 4.14); otherwise the exec
            // fails with EPERM and the start fails saying so, rather than QEMU running unconfined.
            if (options.SelinuxLabel is { } label)
                launcher.AddRange(["--selinux-label", label]);
        }

        // QEMU keeps no capability it could regain: no inheritable or ambient ones to pass through
        // exec, an empty bounding set (setpriv skips that drop silently where the agent lacks
        // CAP_SETPCAP, i.e. is not root, and then has none to pass on anyway), and no_new_privs so
        // that no setuid binary or file capability raises it later.
        launcher.AddRange(["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]);
        launcher.AddRange([options.ShellPath, "-c", LaunchScript, "paddock-qemu", paths.Stdout, paths.Stderr]);
        launcher.AddRange(argv);
        return launcher;
    }

    /// <summary>Runs <paramref name="launcher"/>; what setsid, setpriv or sh say goes to <paramref name="launcherOutput"/>.</summary>
    private static Process Launch(IReadOnlyList<string> launcher, VmPaths paths, ConcurrentQueue<string> launcherOutput)
    {
        var start = new ProcessStartInfo(launcher[0])
        {
            UseShellExecute = false,
            // Pipes only for setsid/setpriv/sh complaints: the script replaces all three before
            // exec'ing QEMU, so QEMU never holds a pipe of this process.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = paths.QemuDirectory,
        };
        foreach (var arg in launcher.Skip(1))
            start.ArgumentList.Add(arg);
        // The agent's environment may hold secrets (join token); QEMU gets none of it.
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";

        Libc.MarkInheritedDescriptorsCloseOnExec();
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
        return child;
    }

    /// <summary>
    /// Polls until the QMP socket and the pidfile exist and QEMU is alive; throws
    /// <see cref="QemuStartException"/> when QEMU exits first or <paramref name="timeout"/> passes.
    /// </summary>
    private static async Task<QemuProcess> WaitUntilReadyAsync(
        Guid vmId, VmPaths paths, Process child, ConcurrentQueue<string> launcherOutput, long stderrOffset, TimeSpan timeout, CancellationToken ct)
    {
        // setsid(1) forks only when the caller leads its process group, which a child of .NET
        // does not, so this pid is QEMU's once setsid, setpriv and sh have exec'd in turn.
        var pid = child.Id;
        var deadline = Stopwatch.StartNew();
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
            if (deadline.Elapsed > timeout)
            {
                throw new QemuStartException(
                    $"QEMU for VM {vmId} did not create its QMP socket within {timeout.TotalSeconds:0} s.",
                    null,
                    [.. launcherOutput, .. ReadStderrTail(paths, 20, stderrOffset)]);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(25), ct).ConfigureAwait(false);
        }
    }

    private static void Collect(ConcurrentQueue<string> lines, string? line)
    {
        if (line is not null && lines.Count < 20)
            lines.Enqueue(line);
    }
}
