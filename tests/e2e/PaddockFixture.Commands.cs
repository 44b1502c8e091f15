using System.Diagnostics;

namespace Paddock.E2e;

/// <summary>Command lines the tests run to their end (the portal's, host tools), and the bound on every wait for a process.</summary>
public sealed partial class PaddockFixture
{
    /// <summary>A one-time join token for a new host, made by an admin through the API (a command line is a second's .NET start).</summary>
    public async Task<string> JoinTokenAsync(string note)
    {
        var admin = await SignInAsync(AdminUser);
        try
        {
            var made = await admin.APIRequest.PostAsync("/api/hosts/join-tokens", new() { Headers = ApiHeaders, DataObject = new { note, validForMinutes = 60 } });
            Assert.True(made.Status == 201, await made.TextAsync());
            return (await made.JsonAsync())!.Value.GetProperty("token").GetString()!;
        }
        finally
        {
            await admin.Context.CloseAsync();
        }
    }

    /// <summary>What the portal's command line prints (stdout only; it logs to stderr).</summary>
    public Task<string> PortalCliAsync(params string[] args) => RunToEndAsync(Env("PADDOCK_TEST_PORTAL_DLL"), args, "");

    /// <summary>Runs a host program to its end and returns its output; a failure fails the test with its error output.</summary>
    public static async Task<string> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await EndedWithinAsync(process, CommandLimit, program);
        Assert.True(process.ExitCode == 0, $"{program} failed: {await error}");
        return (await output).Trim();
    }

    /// <summary>How long a process asked to stop may take: an agent or portal that hangs on SIGTERM fails the test, never the run.</summary>
    private static readonly TimeSpan StopLimit = TimeSpan.FromSeconds(60);

    /// <summary>How long a command line the tests run may take.</summary>
    private static readonly TimeSpan CommandLimit = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Waits for <paramref name="process"/> to end; if it has not within <paramref name="within"/>,
    /// kills it and fails saying so. No wait of the run is unbounded: a hang is a failure that names
    /// what hung, not a run that never ends.
    /// </summary>
    public static async Task EndedWithinAsync(Process process, TimeSpan within, string what)
    {
        using var limit = new CancellationTokenSource(within);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            // Ended, yet its output still open: something it started holds it (and would hold any wait on it).
            var why = process.HasExited
                ? "had ended, but a process it started still holds its output"
                : "had not ended; killed";
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{what} (pid {process.Id}) {why}, {within.TotalSeconds:0} s after it was asked to end.");
        }
    }

    private async Task<string> RunToEndAsync(string dll, string[] args, string input)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in PortalEnvironment())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        await process.StandardInput.WriteLineAsync(input);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await EndedWithinAsync(process, CommandLimit, string.Join(' ', args));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} failed: {await output}{await error}");
        }

        return (await output).Trim();
    }
}
