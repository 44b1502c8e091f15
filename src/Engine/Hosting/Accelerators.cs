namespace Paddock.Engine.Hosting;

/// <summary>
/// Picks the accelerator for this host. The device node alone is not trusted: a paravirtual nested
/// KVM (module kvm_pvm) exposes a /dev/kvm that opens and creates VMs yet hangs ordinary guests,
/// and its CPU shows no vmx/svm. KVM is used only with hardware virtualization behind it.
/// </summary>
public static class Accelerators
{
    private const string Slower = "guests run under TCG, much slower";

    /// <summary>The decision, pure: <paramref name="setting"/> wins over the facts; Auto follows them.</summary>
    public static AcceleratorChoice Decide(AcceleratorFacts facts, AcceleratorSetting setting = AcceleratorSetting.Auto)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return setting switch
        {
            AcceleratorSetting.Kvm => new(Accelerator.Kvm, Forced("kvm", facts.Os == HostOs.Linux ? WhyNotKvm(facts) : $"this host is not Linux ({facts.Os})")),
            AcceleratorSetting.Whpx => new(Accelerator.Whpx, facts.Os != HostOs.Windows
                ? $"whpx forced by setting, but this host is {facts.Os}: QEMU will fail to start"
                : Forced("whpx", facts.WhpError)),
            AcceleratorSetting.Tcg => new(Accelerator.Tcg, $"tcg forced by setting: {Slower}"),
            _ => facts.Os switch
            {
                HostOs.Windows when facts.WhpError is { } why => new(Accelerator.Tcg, $"the Windows Hypervisor Platform cannot run guests ({why}): {Slower}"),
                HostOs.Windows => new(Accelerator.Whpx, null),
                HostOs.Linux when WhyNotKvm(facts) is { } why => new(Accelerator.Tcg, $"{why}: {Slower}"),
                HostOs.Linux => new(Accelerator.Kvm, null),
                _ => new(Accelerator.Tcg, $"no supported hardware accelerator on {facts.Os}: {Slower}"),
            },
        };
    }

    /// <summary>Gathers the facts from this host, through its operating system's probe.</summary>
    public static AcceleratorFacts Probe() => HostProbes.ForThisOs().Accelerator();

    /// <summary><see cref="Probe"/> then <see cref="Decide"/>.</summary>
    public static AcceleratorChoice Detect(AcceleratorSetting setting = AcceleratorSetting.Auto) => Decide(Probe(), setting);

    public static string QemuName(Accelerator accelerator) => accelerator switch
    {
        Accelerator.Kvm => "kvm",
        Accelerator.Whpx => "whpx",
        Accelerator.Tcg => "tcg",
        _ => throw new ArgumentOutOfRangeException(nameof(accelerator), accelerator, null),
    };

    /// <summary>
    /// The value of <c>-accel</c>. WHPX runs with QEMU's own interrupt controller
    /// (<c>kernel-irqchip=off</c>): Hyper-V's APIC emulation drops MSIs on q35, whose PCIe devices
    /// use them ("injection failed, MSI ... lost", then "Unexpected VP exit code 4": QEMU issues
    /// 858, 1043 and 2042), and <c>off</c> is what QEMU's x86 WHPX users run.
    /// </summary>
    public static string QemuAccelArgument(Accelerator accelerator) =>
        accelerator == Accelerator.Whpx ? "whpx,kernel-irqchip=off" : QemuName(accelerator);

    /// <summary>
    /// The value of <c>-cpu</c>: <c>host</c> only under KVM (QEMU refuses it but with KVM or HVF:
    /// "CPU model 'host' requires KVM or HVF"); <c>max</c> under TCG, every feature it emulates;
    /// under WHPX QEMU's default model <c>qemu64</c>, since <c>max</c> there offers what TCG could
    /// emulate but Hyper-V does not run (QEMU issue 1043: no boot on Ryzen).
    /// </summary>
    public static string QemuCpuModel(Accelerator accelerator) => accelerator switch
    {
        Accelerator.Kvm => "host",
        Accelerator.Whpx => "qemu64",
        Accelerator.Tcg => "max",
        _ => throw new ArgumentOutOfRangeException(nameof(accelerator), accelerator, null),
    };

    /// <summary>Why KVM is not usable on this Linux host, or null when it is.</summary>
    private static string? WhyNotKvm(AcceleratorFacts facts)
    {
        if (!facts.KvmDeviceExists)
            return "/dev/kvm is missing (no KVM module, or not exposed to this host)";
        if (facts.KvmOpenError is { } error)
            return $"/dev/kvm cannot be opened read-write ({error})";

        var hardware = facts.CpuFlags.Contains("vmx") || facts.CpuFlags.Contains("svm")
            || facts.KvmModules.Contains("kvm_intel") || facts.KvmModules.Contains("kvm_amd");
        if (hardware)
            return null;

        var others = facts.KvmModules.Where(m => m != "kvm").Order(StringComparer.Ordinal).ToList();
        var modules = others.Count > 0 ? $"module {string.Join(", ", others)}" : "no kvm_intel/kvm_amd module";
        return $"/dev/kvm is present but the CPU shows no vmx/svm ({modules})";
    }

    private static string? Forced(string name, string? why) =>
        why is null ? null : $"{name} forced by setting although {why}: guests may fail or hang";
}
