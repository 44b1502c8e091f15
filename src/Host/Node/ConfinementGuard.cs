using System.Diagnostics;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// The walls this host gives each VM's QEMU (read once, at start) and the admin's leave to start
/// VMs without the ones it lacks (from the portal's settings). No VM starts here unconfined
/// without that leave, whatever the portal asked.
/// </summary>
public sealed class ConfinementGuard(IOptions<AgentOptions> options, ILogger<ConfinementGuard> log)
{
    private readonly SelinuxContexts _contexts = new(options.Value.SelinuxType, options.Value.SelinuxImageType, options.Value.SelinuxSharedType);
    private volatile bool _allowUnconfined;

    public Confinement Confinement { get; } = Confinement.Probe(options.Value.QemuBinary);

    public void Apply(HostSettings settings) => _allowUnconfined = settings.AllowUnconfined;

    /// <summary>Throws, naming what is missing, when a VM may not start here.</summary>
    public void CheckStart()
    {
        if (Confinement.Refusal(_allowUnconfined) is { } refusal)
        {
            throw new InvalidOperationException(refusal);
        }
    }

    /// <summary>Whom the VM's QEMU and files belong to: its own uid and gid, or (an agent that is not root) the agent's.</summary>
    public (int Uid, int Gid) IdsOf(VmSpec spec) => Confinement.IdsFor(spec.Uid);

    /// <summary>The SELinux context QEMU is to run in, where SELinux enforces; null elsewhere.</summary>
    public string? ProcessContext(VmSpec spec) =>
        Confinement.Labels && spec.Label is { } label ? _contexts.Process(McsLabel.Parse(label)) : null;

    /// <summary>
    /// Where SELinux enforces, gives the VM's own files the image type with its categories: its run
    /// directory (recursively) when it is made, then each file the agent adds to it (a disk, the
    /// saved state, the save socket), which would otherwise carry no category and be open to all VMs.
    /// </summary>
    public Task LabelOwnAsync(VmSpec spec, string path, CancellationToken ct) =>
        Confinement.Labels && spec.Label is { } label
            ? ChconAsync(_contexts.Image(McsLabel.Parse(label)), path, recursive: true, ct)
            : Task.CompletedTask;

    /// <summary>Where SELinux enforces, gives a base image or an ISO the shared label every VM may read.</summary>
    public Task LabelSharedAsync(string image, CancellationToken ct) =>
        Confinement.Labels ? ChconAsync(_contexts.Shared, image, recursive: false, ct) : Task.CompletedTask;

    private async Task ChconAsync(string context, string path, bool recursive, CancellationToken ct)
    {
        var start = new ProcessStartInfo("/usr/bin/chcon") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        // -h: a link is labelled, never what it points to.
        foreach (var arg in (string[])[.. recursive ? ["-R"] : Array.Empty<string>(), "-h", context, "--", path])
        {
            start.ArgumentList.Add(arg);
        }

        using var chcon = Process.Start(start)!;
        var error = await chcon.StandardError.ReadToEndAsync(ct);
        await chcon.WaitForExitAsync(ct);
        if (chcon.ExitCode != 0)
        {
            log.LogError("chcon {Context} {Path} failed: {Error}", context, path, error);
            throw new InvalidOperationException($"Could not label {path} for SELinux ({context}): {error.Trim()}");
        }
    }
}
