using System.Text;

namespace Paddock.Engine.Vms;

/// <summary>
/// Every file of one VM, inside its run directory. The run directory belongs to the VM's uid
/// (mode 0700), so QEMU can create its sockets and pidfile there and no other VM can look in.
/// </summary>
public sealed record VmPaths
{
    /// <summary>
    /// <c>sun_path</c> is 108 bytes including the terminating NUL (unix(7)); QEMU refuses a longer
    /// socket path ("UNIX socket path ... is too long"), so the run directory must leave room.
    /// </summary>
    public const int MaxSocketPathBytes = 107;

    public VmPaths(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        if (!Path.IsPathFullyQualified(runDirectory))
            throw new ArgumentException($"The run directory must be an absolute path (was '{runDirectory}').", nameof(runDirectory));
        if (runDirectory.Contains('\0') || runDirectory.Contains('\n') || runDirectory.Contains('\r'))
            throw new ArgumentException("The run directory must not contain NUL or line breaks.", nameof(runDirectory));

        RunDirectory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDirectory));
        var longest = Encoding.UTF8.GetByteCount(SerialSocket);
        if (longest > MaxSocketPathBytes)
            throw new ArgumentException(
                $"The run directory '{RunDirectory}' is too long for unix sockets: '{SerialSocket}' takes {longest} bytes, at most {MaxSocketPathBytes} fit.",
                nameof(runDirectory));
    }

    /// <summary>The run directory of VM <paramref name="vmId"/> under <paramref name="runRoot"/>: <c>{runRoot}/{vmId}</c>.</summary>
    public static VmPaths For(string runRoot, Guid vmId) => new(Path.Combine(runRoot, vmId.ToString("D")));

    public string RunDirectory { get; }

    public string QmpSocket => Combine("qmp.sock");

    /// <summary>The second monitor only tests enable (<c>Agent:TestMonitor</c>).</summary>
    public string TestMonitorSocket => Combine("qmp-test.sock");

    public string VncSocket => Combine("vnc.sock");

    public string SerialSocket => Combine("serial.sock");

    public string SerialLog => Combine("serial.log");

    public string PidFile => Combine("qemu.pid");

    public string Stdout => Combine("qemu.stdout");

    public string Stderr => Combine("qemu.stderr");

    public string SpecFile => Combine("spec.json");

    /// <summary>The whole running state written by Save and read by Restore.</summary>
    public string StateFile => Combine("state.sav");

    /// <summary>Where QEMU streams its state to the agent during Save (the agent listens).</summary>
    public string SaveSocket => Combine("save.sock");

    /// <summary>Where QEMU listens for its saved state during Restore (the agent sends).</summary>
    public string RestoreSocket => Combine("restore.sock");

    /// <summary><c>disk-{id}.qcow2</c>; the id must be well formed, so it can never climb out of the run directory.</summary>
    public string Disk(string diskId)
    {
        if (!VmSpecValidator.IsWellFormedId(diskId))
            throw new ArgumentException($"'{diskId}' is not a well-formed disk id.", nameof(diskId));
        return Combine($"disk-{diskId}.qcow2");
    }

    private string Combine(string name) => Path.Join(RunDirectory, name);
}
