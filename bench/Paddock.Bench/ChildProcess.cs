using System.Diagnostics;

namespace Paddock.Bench;

public static class ChildProcess
{
    /// <summary>
    /// Starts a process whose stdout and stderr are drained into <paramref name="logPath"/>, so no
    /// pipe fills up. With <paramref name="ownEnvironmentOnly"/> it gets nothing of this process's
    /// environment (which holds the database password).
    /// </summary>
    public static Process Start(string fileName, IEnumerable<string> args, Dictionary<string, string> environment, string logPath, bool ownEnvironmentOnly = false)
    {
        var start = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        if (ownEnvironmentOnly)
        {
            start.Environment.Clear();
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        process.StandardInput.Close();
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Runs a short command to its end; its output in the exception when it fails.</summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> args, CancellationToken ct)
    {
        var start = new ProcessStartInfo(fileName) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', start.ArgumentList)} failed ({process.ExitCode}): {await error}");
        }

        return await output;
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }
}

/// <summary>Waits on a condition with a deadline, never on a fixed sleep.</summary>
public static class Wait
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan within, string what, CancellationToken ct, TimeSpan? poll = null)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < within)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or Npgsql.NpgsqlException)
            {
                last = e;
            }

            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(50), ct);
        }

        throw new TimeoutException($"Waited {within.TotalSeconds:0} s for {what}.", last);
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan within, string what, CancellationToken ct, TimeSpan? poll = null) =>
        UntilAsync(() => Task.FromResult(condition()), within, what, ct, poll);
}
