namespace Paddock.Portal.Shared;

/// <summary>
/// The sizes a VM may have, checked wherever sizes are proposed: a create, a flavor, a template's
/// defaults, an upload's disk.
/// </summary>
public static class VmSizes
{
    public const int MaxVCpus = 16;
    public const int MinMemoryMiB = 64;
    public const int MaxMemoryMiB = 65536;
    public const int MaxDiskMiB = 256 * 1024;

    public static string? ValidateVCpus(int vcpus) =>
        vcpus is < 1 or > MaxVCpus ? $"vCPUs: between 1 and {MaxVCpus}." : null;

    public static string? ValidateMemory(int memoryMiB) =>
        memoryMiB is < MinMemoryMiB or > MaxMemoryMiB ? $"Memory: between {MinMemoryMiB} and {MaxMemoryMiB} MiB." : null;
}
