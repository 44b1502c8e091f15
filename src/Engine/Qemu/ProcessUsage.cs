using System.Globalization;

namespace Paddock.Engine.Qemu;

/// <summary>What one process actually uses: resident memory and CPU time (user + system), from /proc (proc(5)).</summary>
/// <remarks>Also who it runs as (real uid and gid) and its seccomp mode (0 off, 1 strict, 2 filter), from /proc/&lt;pid&gt;/status.</remarks>
public sealed record ProcessUsage(long RssBytes, double CpuSeconds, int? Uid = null, int? Gid = null, int? Seccomp = null)
{
    /// <summary>USER_HZ: clock ticks per second of utime and stime. 100 on every Linux architecture QEMU runs on here.</summary>
    private const double TicksPerSecond = 100;

    public static ProcessUsage? TryRead(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        try
        {
            var dir = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}";
            return Parse(File.ReadAllText($"{dir}/stat"), File.ReadAllLines($"{dir}/status"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>utime and stime are fields 14 and 15 of stat (counted from the last ')', as the name may hold spaces); VmRSS is in status, in kB.</summary>
    public static ProcessUsage? Parse(string stat, IEnumerable<string> status)
    {
        var close = stat.LastIndexOf(')');
        var fields = close < 0 ? [] : stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 13
            || !ulong.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var utime)
            || !ulong.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var stime))
        {
            return null;
        }

        long rss = 0;
        int? uid = null, gid = null, seccomp = null;
        static int? First(string line) =>
            int.TryParse(line[(line.IndexOf(':') + 1)..].Trim().Split('\t', ' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                ? value
                : null;
        foreach (var line in status)
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)
                && long.TryParse(line[6..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb))
            {
                rss = kb * 1024;
            }
            else if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                uid = First(line);
            }
            else if (line.StartsWith("Gid:", StringComparison.Ordinal))
            {
                gid = First(line);
            }
            else if (line.StartsWith("Seccomp:", StringComparison.Ordinal))
            {
                seccomp = First(line);
            }
        }

        return new ProcessUsage(rss, (utime + stime) / TicksPerSecond, uid, gid, seccomp);
    }
}
