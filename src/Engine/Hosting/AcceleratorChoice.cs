namespace Paddock.Engine.Hosting;

/// <summary>The accelerator to use and, when it is not the fast path, a warning a person can read.</summary>
public sealed record AcceleratorChoice(Accelerator Accelerator, string? Warning)
{
    /// <summary>The word QEMU's <c>-accel</c> takes and the portal shows: kvm, whpx or tcg.</summary>
    public string Name => Accelerators.QemuName(Accelerator);
}
