using System.Globalization;
using System.Text;
using Paddock.Engine.Interop;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Qemu;

/// <summary>
/// The files QEMU leaves in its run directory (pidfile, qemu.stderr) and its /proc cmdline, read
/// without following a link the VM's uid could have planted.
/// </summary>
public sealed partial class QemuProcess
{
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
            using var file = OpenQemuFile(paths.Stderr);
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

    private static int? ReadPidFile(string path)
    {
        try
        {
            using var file = OpenQemuFile(path);
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

    /// <summary>
    /// A file of QEMU's directory, for reading: on Linux never through a link the VM's uid planted; on
    /// Windows, where QEMU runs as the agent itself, as it is.
    /// </summary>
    private static FileStream OpenQemuFile(string path) =>
        OperatingSystem.IsWindows()
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1)
            : Libc.OpenReadNoFollow(path);

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
            using var file = OpenQemuFile(path);
            return file.Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
