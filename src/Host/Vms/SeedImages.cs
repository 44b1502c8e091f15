using System.Diagnostics;
using Microsoft.Extensions.Options;
using Paddock.Engine.Guests;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>
/// A VM's cloud-init NoCloud seed: the files <see cref="CloudInitSeed"/> renders from its spec, on an
/// ISO 9660 image labelled <c>cidata</c> (Joliet and Rock Ridge keep the names as cloud-init wants
/// them), made by xorriso before each start. The files are staged in the agent's own state
/// directory and the image is written under a temporary name in the run directory (the agent's,
/// 0711: no name there is the VM's) and renamed into place, then given to the VM's uid for QEMU to
/// read. Timestamps are fixed (<c>SOURCE_DATE_EPOCH</c>), so the same spec makes the same bytes on
/// a migration's destination. The seed's text may hold secrets: it is never logged.
/// </summary>
public sealed class SeedImages(IOptions<AgentOptions> options, VmFiles files, Node.ConfinementGuard guard)
{
    /// <summary>How long xorriso may take for a few kilobytes.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Makes (again) the seed of <paramref name="spec"/> in <paramref name="paths"/>, or removes a stale one when the spec has none.</summary>
    public async Task WriteAsync(VmSpec spec, VmPaths paths, CancellationToken ct)
    {
        if (spec.CloudInit is not { } config)
        {
            File.Delete(paths.Seed);
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("cloud-init seeds are made with xorriso, which this agent has only on Linux.");
        }

        var stage = Directory.CreateDirectory(Path.Combine(options.Value.StateDir, "seeds", Guid.NewGuid().ToString("N")),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            foreach (var (name, bytes) in CloudInitSeed.Files(spec.Id, config))
            {
                await File.WriteAllBytesAsync(Path.Combine(stage.FullName, name), bytes, ct);
            }

            var partial = paths.Seed + ".partial";
            File.Delete(partial);
            await RunXorrisoAsync(stage.FullName, partial, ct);
            File.Move(partial, paths.Seed, overwrite: true);
            files.GiveToVm(spec, paths.Seed);
            await guard.LabelOwnAsync(spec, paths.Seed, ct);
        }
        finally
        {
            stage.Delete(recursive: true);
        }
    }

    private static async Task RunXorrisoAsync(string from, string to, CancellationToken ct)
    {
        var start = new ProcessStartInfo("xorriso") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in (string[])["-as", "mkisofs", "-quiet", "-output", to, "-volid", "cidata", "-joliet", "-rock", from])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["SOURCE_DATE_EPOCH"] = "0";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("xorriso did not start.");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        _ = process.StandardOutput.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }

        if (process.ExitCode != 0)
        {
            var said = await error;
            throw new InvalidOperationException($"xorriso could not make the cloud-init seed (exit {process.ExitCode}): {said[..Math.Min(said.Length, 500)]}");
        }
    }
}
