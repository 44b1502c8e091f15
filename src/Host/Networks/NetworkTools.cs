using System.Diagnostics;

namespace Paddock.Host.Networks;

/// <summary>A network tool that failed: its argv and what it said.</summary>
public sealed class NetworkCommandException(string message) : Exception(message);

/// <summary>
/// Runs <c>ip</c>, <c>bridge</c>, <c>nft</c>, <c>sysctl</c> and dnsmasq with argument lists (never a
/// shell), each bounded in time; what they print on error comes back in the exception.
/// </summary>
public static class NetworkTools
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Runs <paramref name="argv"/>, feeding it <paramref name="input"/> when given; returns what it printed.</summary>
    /// <exception cref="NetworkCommandException">It exited non-zero or ran too long.</exception>
    public static async Task<string> RunAsync(IReadOnlyList<string> argv, string? input = null, CancellationToken ct = default)
    {
        var start = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in argv.Skip(1))
            start.ArgumentList.Add(argument);
        start.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        using var process = Process.Start(start) ?? throw new NetworkCommandException($"{argv[0]} did not start.");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(Timeout);
        try
        {
            if (input is not null)
                await process.StandardInput.WriteAsync(input.AsMemory(), deadline.Token);
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync(deadline.Token);
            var error = process.StandardError.ReadToEndAsync(deadline.Token);
            await process.WaitForExitAsync(deadline.Token);
            if (process.ExitCode != 0)
                throw new NetworkCommandException($"'{string.Join(' ', argv)}' failed ({process.ExitCode}): {(await error).Trim()}");
            return await output;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new NetworkCommandException($"'{string.Join(' ', argv)}' ran longer than {Timeout.TotalSeconds:0} s.");
        }
    }

    /// <summary>Runs each argv in order.</summary>
    public static async Task RunAllAsync(IEnumerable<IReadOnlyList<string>> commands, CancellationToken ct)
    {
        foreach (var argv in commands)
            await RunAsync(argv, ct: ct);
    }
}
