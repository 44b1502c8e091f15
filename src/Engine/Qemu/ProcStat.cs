using System.Globalization;

namespace Paddock.Engine.Qemu;

/// <summary>
/// The fields of <c>/proc/&lt;pid&gt;/stat</c> supervision needs (proc(5)): the state letter and the
/// start time, which together with the pid name one incarnation of a process (pids get reused).
/// </summary>
internal sealed record ProcStat(char State, ulong StartTime)
{
    /// <summary>Zombie or dead: exited, whether or not anyone reaped it. PID 1 here never reaps orphans.</summary>
    public bool IsDead => State is 'Z' or 'X' or 'x';

    /// <summary>The process's state and start time: from /proc on Linux; on Windows from the process object (running or exited, start time in ticks).</summary>
    public static ProcStat? TryRead(int pid)
    {
        if (pid <= 0)
            return null;
        if (OperatingSystem.IsWindows())
            return ReadWindows(pid);
        try
        {
            return Parse(File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static ProcStat? ReadWindows(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return new ProcStat(process.HasExited ? 'X' : 'R', (ulong)process.StartTime.ToUniversalTime().Ticks);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// Parses a stat line. The command name (field 2) is in parentheses and may itself contain
    /// spaces and ')', so fields are counted from the last ')'.
    /// </summary>
    public static ProcStat? Parse(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0)
            return null;
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state); starttime is field 22.
        if (fields.Length < 20 || fields[0].Length != 1
            || !ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return null;
        }

        return new ProcStat(fields[0][0], start);
    }
}
