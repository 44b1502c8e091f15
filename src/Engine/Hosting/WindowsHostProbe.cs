using System.Runtime.InteropServices;

namespace Paddock.Engine.Hosting;

/// <summary>
/// A Windows host: memory and NUMA from kernel32, the accelerator from the Windows Hypervisor
/// Platform's own capability query. Written against the Win32 documentation and compiled in CI;
/// it has not run on a Windows machine (README, "Windows hosts"). Only <see cref="HostProbes.ForThisOs"/>
/// makes one, on Windows; its pure parts (<see cref="WhpVerdict"/>) are tested on Linux.
/// </summary>
public sealed class WindowsHostProbe : IHostProbe
{
    /// <summary>WHV_CAPABILITY_CODE WHvCapabilityCodeHypervisorPresent: a BOOL, true when the hypervisor runs.</summary>
    private const int HypervisorPresent = 0;

    public HostOs Os => HostOs.Windows;

    public HostMemory Memory()
    {
        var status = new MemoryStatus { Length = MemoryStatus.Size };
        return GlobalMemoryStatusEx(ref status)
            ? new HostMemory(checked((long)status.TotalPhys), 0, 0)
            : new HostMemory(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, 0, 0);
    }

    public int NumaNodes() => GetNumaHighestNodeNumber(out var highest) ? checked((int)highest + 1) : 1;

    public (bool Available, string? Note) Ksm() => (false, "KSM is Linux's; Windows has none to switch.");

    public AcceleratorFacts Accelerator()
    {
        string? whp;
        try
        {
            var result = WHvGetCapability(HypervisorPresent, out var present, sizeof(int), out _);
            whp = WhpVerdict(result, present);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            whp = "WinHvPlatform.dll is missing: the Windows Hypervisor Platform feature is not installed";
        }

        return AcceleratorFacts.NotLinux(HostOs.Windows, whp);
    }

    /// <summary>Why WHPX cannot run guests, from WHvGetCapability's HRESULT and its HypervisorPresent answer; null when it can.</summary>
    public static string? WhpVerdict(int hresult, int hypervisorPresent) =>
        hresult < 0 ? $"WHvGetCapability failed (HRESULT 0x{hresult:X8})"
        : hypervisorPresent == 0 ? "the hypervisor is not running: turn the Windows Hypervisor Platform feature on and restart"
        : null;

    /// <summary>MEMORYSTATUSEX: two DWORDs then seven DWORDLONGs, 64 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MemoryStatus
    {
        public const int Size = 64;
        public uint Length;
        public uint MemoryLoad;
        public ulong TotalPhys;
        public ulong AvailPhys;
        public ulong TotalPageFile;
        public ulong AvailPageFile;
        public ulong TotalVirtual;
        public ulong AvailVirtual;
        public ulong AvailExtendedVirtual;
    }

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool GlobalMemoryStatusEx(ref MemoryStatus buffer);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool GetNumaHighestNodeNumber(out uint highestNodeNumber);

    [DllImport("WinHvPlatform.dll")]
    private static extern int WHvGetCapability(int capabilityCode, out int capabilityBuffer, uint capabilityBufferSizeInBytes, out uint writtenSizeInBytes);
}
