namespace Paddock.Engine.Hosting;

/// <summary>What executes guest code: KVM (Linux), Windows Hypervisor Platform, or QEMU's own TCG emulator.</summary>
public enum Accelerator
{
    Kvm,
    Whpx,
    Tcg,
}
