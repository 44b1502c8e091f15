using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Paddock.Engine.Isolation;

/// <summary>
/// A VM's QEMU in a Windows job object (<see cref="JobPlan"/>): memory bound, one process, a CPU cap
/// or weight. The job is not kill-on-close, so QEMU keeps running when the agent's handle goes with
/// it; a restarted agent finds the job by name and asks whether a process id is in it. Written
/// against the Win32 documentation and compiled in CI; it has not run on Windows (README, "Windows hosts").
/// </summary>
public static class WindowsJob
{
    private const int ExtendedLimitInformation = 9;
    private const int CpuRateControlInformation = 15;
    private const uint JobObjectQuery = 0x0004;
    private const uint ProcessSetQuotaAndTerminate = 0x0100 | 0x0001;
    private const uint ProcessQueryLimitedInformation = 0x1000;

    /// <summary>Makes (or opens) the plan's job, sets its limits and puts process <paramref name="pid"/> in it; returns where, or throws <see cref="IOException"/>.</summary>
    public static string Apply(JobPlan plan, int pid)
    {
        ArgumentNullException.ThrowIfNull(plan);
        using var job = CreateJobObjectW(0, plan.Name);
        Check(!job.IsInvalid, "CreateJobObject");
        var limits = new ExtendedLimits { LimitFlags = plan.LimitFlags, ActiveProcessLimit = 1, JobMemoryLimit = (nuint)plan.MemoryBytes };
        Check(SetInformationJobObject(job, ExtendedLimitInformation, ref limits, (uint)Marshal.SizeOf<ExtendedLimits>()), "SetInformationJobObject (limits)");
        if (plan.CpuControlFlags != 0)
        {
            var cpu = new CpuRateControl { ControlFlags = plan.CpuControlFlags, Value = plan.CpuValue };
            Check(SetInformationJobObject(job, CpuRateControlInformation, ref cpu, (uint)Marshal.SizeOf<CpuRateControl>()), "SetInformationJobObject (CPU)");
        }

        using var process = OpenProcess(ProcessSetQuotaAndTerminate, false, (uint)pid);
        Check(!process.IsInvalid, "OpenProcess");
        Check(AssignProcessToJobObject(job, process), "AssignProcessToJobObject");
        return $"job {plan.Name}";
    }

    /// <summary>Whether process <paramref name="pid"/> runs in the job named <paramref name="name"/>: the re-attach check beside the start time.</summary>
    public static bool Holds(string name, int pid)
    {
        using var job = OpenJobObjectW(JobObjectQuery, false, name);
        using var process = OpenProcess(ProcessQueryLimitedInformation, false, (uint)pid);
        return !job.IsInvalid && !process.IsInvalid && IsProcessInJob(process, job, out var inJob) && inJob;
    }

    private static void Check(bool ok, string call)
    {
        if (!ok)
            throw new IOException($"{call} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>JOBOBJECT_EXTENDED_LIMIT_INFORMATION on 64-bit Windows: 144 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ExtendedLimits
    {
        public const int Size = 144;
        public long PerProcessUserTimeLimit;
        public long PerJobUserTimeLimit;
        public uint LimitFlags;
        public nuint MinimumWorkingSetSize;
        public nuint MaximumWorkingSetSize;
        public uint ActiveProcessLimit;
        public nuint Affinity;
        public uint PriorityClass;
        public uint SchedulingClass;
        public ulong ReadOperationCount;
        public ulong WriteOperationCount;
        public ulong OtherOperationCount;
        public ulong ReadTransferCount;
        public ulong WriteTransferCount;
        public ulong OtherTransferCount;
        public nuint ProcessMemoryLimit;
        public nuint JobMemoryLimit;
        public nuint PeakProcessMemoryUsed;
        public nuint PeakJobMemoryUsed;
    }

    /// <summary>JOBOBJECT_CPU_RATE_CONTROL_INFORMATION: the flags, then the cap or the weight.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CpuRateControl
    {
        public const int Size = 8;
        public uint ControlFlags;
        public uint Value;
    }

    [DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern SafeFileHandle CreateJobObjectW(nint attributes, string name);

    [DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern SafeFileHandle OpenJobObjectW(uint access, [MarshalAs(UnmanagedType.Bool)] bool inherit, string name);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool SetInformationJobObject(SafeFileHandle job, int informationClass, ref ExtendedLimits information, uint length);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool SetInformationJobObject(SafeFileHandle job, int informationClass, ref CpuRateControl information, uint length);

    [DllImport("kernel32.dll", SetLastError = true)]
    private static extern SafeProcessHandle OpenProcess(uint access, [MarshalAs(UnmanagedType.Bool)] bool inherit, uint pid);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool AssignProcessToJobObject(SafeFileHandle job, SafeProcessHandle process);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool IsProcessInJob(SafeProcessHandle process, SafeFileHandle job, [MarshalAs(UnmanagedType.Bool)] out bool result);
}
