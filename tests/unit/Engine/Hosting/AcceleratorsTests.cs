using Paddock.Engine.Hosting;

namespace Paddock.Unit.Engine.Hosting;

public sealed class AcceleratorsTests
{
    private static AcceleratorFacts Linux(bool device = true, string? openError = null, string flags = "fpu sse2", string modules = "kvm") =>
        new(HostOs.Linux, device, device ? openError : "missing",
            flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(),
            modules.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet());

    [Theory]
    [InlineData("fpu vmx sse2", "kvm kvm_intel")]
    [InlineData("fpu svm sse2", "kvm kvm_amd")]
    [InlineData("fpu svm sse2", "")]
    [InlineData("fpu sse2", "kvm kvm_intel")]
    public void Kvm_device_with_hardware_virtualization_gives_kvm_without_warning(string flags, string modules)
    {
        var choice = Accelerators.Decide(Linux(flags: flags, modules: modules));

        Assert.Equal(new AcceleratorChoice(Accelerator.Kvm, null), choice);
        Assert.Equal("kvm", choice.Name);
    }

    [Fact]
    public void Paravirtual_kvm_without_vmx_or_svm_gives_tcg_naming_the_module()
    {
        var choice = Accelerators.Decide(Linux(flags: "fpu sse2 hypervisor avx512f", modules: "kvm kvm_pvm"));

        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.Equal("/dev/kvm is present but the CPU shows no vmx/svm (module kvm_pvm): guests run under TCG, much slower", choice.Warning);
    }

    [Fact]
    public void Kvm_device_without_flags_or_known_module_gives_tcg()
    {
        var choice = Accelerators.Decide(Linux(modules: ""));

        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.Contains("no kvm_intel/kvm_amd module", choice.Warning);
    }

    [Fact]
    public void No_kvm_device_gives_tcg_saying_it_is_missing()
    {
        var choice = Accelerators.Decide(Linux(device: false, flags: "vmx"));

        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.StartsWith("/dev/kvm is missing", choice.Warning);
        Assert.EndsWith("guests run under TCG, much slower", choice.Warning);
    }

    [Fact]
    public void Kvm_device_that_cannot_be_opened_gives_tcg_with_the_reason()
    {
        var choice = Accelerators.Decide(Linux(openError: "Access to the path '/dev/kvm' is denied.", flags: "vmx"));

        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.Contains("cannot be opened read-write (Access to the path '/dev/kvm' is denied.)", choice.Warning);
    }

    [Fact]
    public void Windows_gives_whpx()
    {
        var facts = new AcceleratorFacts(HostOs.Windows, false, "not Linux", new HashSet<string>(), new HashSet<string>());

        Assert.Equal(new AcceleratorChoice(Accelerator.Whpx, null), Accelerators.Decide(facts));
    }

    [Fact]
    public void Windows_without_a_running_hypervisor_gives_tcg_naming_why()
    {
        var facts = new AcceleratorFacts(HostOs.Windows, false, "not Linux", new HashSet<string>(), new HashSet<string>(),
            WindowsHostProbe.WhpVerdict(0, hypervisorPresent: 0));

        var choice = Accelerators.Decide(facts);

        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.Equal("the Windows Hypervisor Platform cannot run guests (the hypervisor is not running: turn the Windows Hypervisor Platform "
            + "feature on and restart): guests run under TCG, much slower", choice.Warning);
        Assert.Contains("whpx forced by setting although the hypervisor is not running", Accelerators.Decide(facts, AcceleratorSetting.Whpx).Warning);
    }

    [Fact]
    public void Another_os_gives_tcg_with_a_warning()
    {
        var facts = new AcceleratorFacts(HostOs.Other, false, "not Linux", new HashSet<string>(), new HashSet<string>());

        var choice = Accelerators.Decide(facts);

        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.NotNull(choice.Warning);
    }

    [Fact]
    public void Tcg_override_wins_over_a_kvm_capable_host()
    {
        var choice = Accelerators.Decide(Linux(flags: "vmx", modules: "kvm kvm_intel"), AcceleratorSetting.Tcg);

        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.Contains("forced by setting", choice.Warning);
    }

    [Fact]
    public void Kvm_override_wins_over_a_paravirtual_kvm_but_warns()
    {
        var choice = Accelerators.Decide(Linux(modules: "kvm kvm_pvm"), AcceleratorSetting.Kvm);

        Assert.Equal(Accelerator.Kvm, choice.Accelerator);
        Assert.Contains("kvm forced by setting although /dev/kvm is present but the CPU shows no vmx/svm (module kvm_pvm)", choice.Warning);
    }

    [Fact]
    public void Kvm_override_on_a_capable_host_has_no_warning()
    {
        Assert.Equal(new AcceleratorChoice(Accelerator.Kvm, null), Accelerators.Decide(Linux(flags: "vmx"), AcceleratorSetting.Kvm));
    }

    [Fact]
    public void Whpx_override_on_linux_warns_that_qemu_will_fail()
    {
        var choice = Accelerators.Decide(Linux(flags: "vmx"), AcceleratorSetting.Whpx);

        Assert.Equal(Accelerator.Whpx, choice.Accelerator);
        Assert.Contains("will fail", choice.Warning);
    }

    [Theory]
    [InlineData(Accelerator.Kvm, "kvm", "host")]
    [InlineData(Accelerator.Tcg, "tcg", "max")]
    [InlineData(Accelerator.Whpx, "whpx,kernel-irqchip=off", "qemu64")]
    public void Each_accelerator_gets_an_accel_value_and_a_cpu_model_its_qemu_takes(Accelerator accelerator, string accel, string cpu)
    {
        Assert.Equal(accel, Accelerators.QemuAccelArgument(accelerator));
        Assert.Equal(cpu, Accelerators.QemuCpuModel(accelerator));
    }

    [Fact]
    public void The_real_probe_describes_this_host()
    {
        var facts = Accelerators.Probe();

        Assert.Equal(OperatingSystem.IsLinux() ? HostOs.Linux : OperatingSystem.IsWindows() ? HostOs.Windows : HostOs.Other, facts.Os);
        Assert.All(facts.KvmModules, m => Assert.StartsWith("kvm", m));
    }
}
