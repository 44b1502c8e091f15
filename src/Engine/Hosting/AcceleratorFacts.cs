namespace Paddock.Engine.Hosting;

/// <summary>What <see cref="IHostProbe.Accelerator"/> saw on the host; <see cref="Accelerators.Decide"/> is a pure function of it.</summary>
/// <param name="KvmDeviceExists">/dev/kvm exists.</param>
/// <param name="KvmOpenError">Why /dev/kvm could not be opened read-write, or null when it could.</param>
/// <param name="CpuFlags">The <c>flags</c> of the first processor in /proc/cpuinfo.</param>
/// <param name="KvmModules">Loaded modules whose name starts with <c>kvm</c> (kvm, kvm_intel, kvm_amd, kvm_pvm, ...).</param>
/// <param name="WhpError">On Windows, why the Windows Hypervisor Platform cannot run guests, or null when it can.</param>
public sealed record AcceleratorFacts(
    HostOs Os,
    bool KvmDeviceExists,
    string? KvmOpenError,
    IReadOnlySet<string> CpuFlags,
    IReadOnlySet<string> KvmModules,
    string? WhpError = null)
{
    public bool KvmDeviceOpens => KvmDeviceExists && KvmOpenError is null;

    /// <summary>The facts of a host that is not Linux: no /dev/kvm, no CPU flags or modules read.</summary>
    public static AcceleratorFacts NotLinux(HostOs os, string? whpError = null) =>
        new(os, false, "not Linux", new HashSet<string>(), new HashSet<string>(), whpError);
}

public enum HostOs
{
    Linux,
    Windows,
    Other,
}
