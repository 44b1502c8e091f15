using System.Diagnostics;
using System.Globalization;
using Paddock.Engine.Interop;

namespace Paddock.Engine.Isolation;

/// <summary>
/// Work done inside a directory a VM's uid can write is done as that uid: whatever links or
/// swapped names the VM left there, it can only reach what the VM could reach anyway.
/// </summary>
public static class VmUid
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    /// <summary>Removes everything inside <paramref name="directory"/> (not the directory itself) as <paramref name="uid"/>:<paramref name="gid"/>.</summary>
    /// <exception cref="IOException">Something in it could not be removed.</exception>
    public static void EmptyDirectory(string directory, int uid, int gid)
    {
        // find -delete walks with unlinkat and never follows a link (-P is find's default).
        var argv = Argv(uid, gid, ["/usr/bin/find", directory, "-mindepth", "1", "-delete"]);
        var start = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in argv.Skip(1))
            start.ArgumentList.Add(arg);
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        start.Environment["LC_ALL"] = "C";

        using var process = Process.Start(start) ?? throw new IOException($"Cannot start {argv[0]}.");
        var errors = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new IOException($"Emptying '{directory}' as uid {uid} took over {Timeout.TotalSeconds:0} s.");
        }

        if (process.ExitCode != 0)
            throw new IOException($"Emptying '{directory}' as uid {uid} failed: {errors.Result.Trim()}");
    }

    /// <summary>
    /// <paramref name="command"/> run as the VM's ids through setpriv when the agent is root, as the
    /// agent itself otherwise (an unconfined agent: the VM's files are its own).
    /// </summary>
    internal static IReadOnlyList<string> Argv(int uid, int gid, IReadOnlyList<string> command)
    {
        if (Libc.EffectiveUid() != 0 || uid == 0)
            return command;
        var ids = CultureInfo.InvariantCulture;
        return ["/usr/bin/setpriv", "--reuid", uid.ToString(ids), "--regid", gid.ToString(ids), "--clear-groups",
            "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--", .. command];
    }
}
