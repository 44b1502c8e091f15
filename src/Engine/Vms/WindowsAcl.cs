using System.Runtime.Versioning;
using System.Security.AccessControl;

namespace Paddock.Engine.Vms;

/// <summary>
/// On Windows a VM's run directory is the agent's alone: a protected access list (nothing inherited
/// from ProgramData, whose Users may read) that gives full control to SYSTEM, which the agent runs
/// as as a service, and to the Administrators, and to nobody else. QEMU runs as the agent there, so
/// this keeps other local users, not one VM from another (README, "Windows hosts").
/// </summary>
public static class WindowsAcl
{
    /// <summary>Owner SYSTEM; a protected DACL: SYSTEM and BUILTIN\Administrators, full control, inherited by files and folders inside.</summary>
    public const string RunDirectorySddl = "O:SYG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

    [SupportedOSPlatform("windows")]
    public static void Protect(string directory)
    {
        var security = new DirectorySecurity();
        security.SetSecurityDescriptorSddlForm(RunDirectorySddl);
        new DirectoryInfo(directory).SetAccessControl(security);
    }
}
