using System.Diagnostics;
using Paddock.Engine.Interop;

namespace Paddock.Engine.Isolation;

/// <summary>SELinux on this host, from <c>/sys/fs/selinux</c>.</summary>
public enum SelinuxState
{
    Absent,
    Permissive,
    Enforcing,
}

/// <summary>
/// What this host can do to wall one VM's QEMU off from the others: an own uid per VM (the agent
/// runs as root), QEMU's seccomp sandbox, and SELinux labels where SELinux enforces. What it cannot
/// do is <see cref="Missing"/>; a VM starts with something missing only where an admin allowed
/// unconfined VMs for the host. A Windows agent has none of these walls yet and says so in its own
/// words (<paramref name="Os"/>), so that placement passes its host over as it does a non-root agent's.
/// </summary>
public sealed record Confinement(bool OwnUid, bool Sandbox, SelinuxState Selinux, bool SelinuxTools, Hosting.HostOs Os = Hosting.HostOs.Linux)
{
    /// <summary>Whether VMs' processes and files get SELinux labels: SELinux enforces and its tools are here.</summary>
    public bool Labels => Selinux == SelinuxState.Enforcing && SelinuxTools;

    /// <summary>The walls together, for people: "DAC + seccomp" on a Linux host without SELinux.</summary>
    public string Mode
    {
        get
        {
            var walls = new List<string>();
            if (Labels)
                walls.Add("SELinux");
            if (OwnUid)
                walls.Add("DAC");
            if (Sandbox)
                walls.Add("seccomp");
            return walls.Count == 0 ? "unconfined" : string.Join(" + ", walls);
        }
    }

    /// <summary>
    /// Whom a VM's QEMU and files belong to: the VM's own uid and gid, or (an agent that is not root)
    /// the agent's; off Linux -1, chown's "leave it as it is".
    /// </summary>
    public (int Uid, int Gid) IdsFor(int vmUid) =>
        OwnUid ? (vmUid, vmUid) : Os == Hosting.HostOs.Linux ? (Libc.EffectiveUid(), Libc.EffectiveGid()) : (-1, -1);

    /// <summary>What a VM started here would lack, each naming why.</summary>
    public IReadOnlyList<string> Missing =>
    [
        .. OwnUid ? Array.Empty<string>()
            : Os == Hosting.HostOs.Linux ? ["an own uid per VM (the agent does not run as root)"]
            : [$"an own identity per VM (on {Os} every VM's QEMU runs as the agent itself)"],
        .. Sandbox ? Array.Empty<string>()
            : Os == Hosting.HostOs.Linux ? ["QEMU's seccomp sandbox (this QEMU has none)"]
            : [$"QEMU's seccomp sandbox (Linux only; {Os} has no equivalent here)"],
        .. Selinux == SelinuxState.Enforcing && !SelinuxTools ? ["SELinux labels (SELinux enforces here, but chcon is missing)"] : Array.Empty<string>(),
    ];

    /// <summary>Null when a VM may start here: nothing is missing, or an admin allowed unconfined VMs on this host. Otherwise why not.</summary>
    public string? Refusal(bool allowUnconfined) => RefusalFor(Missing, allowUnconfined);

    /// <summary>The same decision from a host's registered <paramref name="missing"/> walls, as the portal decides it before it asks the host.</summary>
    public static string? RefusalFor(IReadOnlyCollection<string> missing, bool allowUnconfined) =>
        missing.Count == 0 || allowUnconfined
            ? null
            : $"Not started unconfined: this host lacks {string.Join(", ", missing)}. An admin can allow unconfined VMs on this host.";

    /// <summary>Reads this host: whether the agent is root, whether <paramref name="qemuBinary"/> has a seccomp sandbox, and SELinux.</summary>
    public static Confinement Probe(string qemuBinary, string selinuxRoot = "/sys/fs/selinux")
    {
        if (!OperatingSystem.IsLinux())
            return new Confinement(false, false, SelinuxState.Absent, false, OperatingSystem.IsWindows() ? Hosting.HostOs.Windows : Hosting.HostOs.Other);
        var selinux = ReadSelinux(selinuxRoot);
        return new Confinement(Libc.EffectiveUid() == 0, ProbeSandbox(qemuBinary), selinux, selinux == SelinuxState.Absent || File.Exists("/usr/bin/chcon"));
    }

    /// <summary><c>enforce</c> holds 1 (enforcing) or 0 (permissive); no file, no SELinux.</summary>
    public static SelinuxState ReadSelinux(string selinuxRoot)
    {
        var enforce = Path.Combine(selinuxRoot, "enforce");
        if (!File.Exists(enforce))
            return SelinuxState.Absent;
        try
        {
            return File.ReadAllText(enforce).Trim() == "1" ? SelinuxState.Enforcing : SelinuxState.Permissive;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return SelinuxState.Absent;
        }
    }

    /// <summary>
    /// Starts QEMU with the VM's sandbox and no machine, and quits it over QMP on stdin: a QEMU
    /// built without seccomp refuses the option and exits non-zero.
    /// </summary>
    private static bool ProbeSandbox(string qemuBinary)
    {
        try
        {
            var start = new ProcessStartInfo(qemuBinary)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in new[] { "-machine", "none", "-display", "none", "-nodefaults", "-sandbox", Qemu.QemuCommandLine.SandboxOptions,
                "-qmp", "stdio" })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            process.StandardInput.WriteLine("{\"execute\":\"qmp_capabilities\"}");
            process.StandardInput.WriteLine("{\"execute\":\"quit\"}");
            process.StandardInput.Close();
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(10_000))
            {
                process.Kill();
                return false;
            }

            return process.ExitCode == 0;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return false;
        }
    }
}
