namespace Paddock.Engine.Hosting;

/// <summary>
/// What the agent reads from the machine it runs on: memory, NUMA, KSM and the accelerator's facts.
/// One implementation per operating system, chosen once at start by <see cref="HostProbes.ForThisOs"/>;
/// what is decided from the readings (<see cref="Accelerators.Decide"/>, the registration) is shared.
/// </summary>
public interface IHostProbe
{
    HostOs Os { get; }

    /// <summary>Physical memory, and the huge pages set aside for guests (none where the OS keeps no such pool).</summary>
    HostMemory Memory();

    /// <summary>NUMA nodes, at least one.</summary>
    int NumaNodes();

    /// <summary>Whether this process can switch kernel same-page merging, and why not when it cannot.</summary>
    (bool Available, string? Note) Ksm();

    /// <summary>What <see cref="Accelerators.Decide"/> needs to know about this machine.</summary>
    AcceleratorFacts Accelerator();
}

/// <summary>Physical memory and the huge-page pool, in bytes and pages.</summary>
public sealed record HostMemory(long TotalBytes, long HugePagesTotal, long HugePageBytes);

/// <summary>The probe for the operating system this process runs on.</summary>
public static class HostProbes
{
    public static IHostProbe ForThisOs() =>
        OperatingSystem.IsLinux() ? new LinuxHostProbe()
        : OperatingSystem.IsWindows() ? new WindowsHostProbe()
        : new PortableHostProbe();
}

/// <summary>Neither Linux nor Windows: what .NET itself knows, and no accelerator.</summary>
internal sealed class PortableHostProbe : IHostProbe
{
    public HostOs Os => HostOs.Other;

    public HostMemory Memory() => new(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, 0, 0);

    public int NumaNodes() => 1;

    public (bool Available, string? Note) Ksm() => (false, "Only Linux has KSM.");

    public AcceleratorFacts Accelerator() => AcceleratorFacts.NotLinux(HostOs.Other);
}
