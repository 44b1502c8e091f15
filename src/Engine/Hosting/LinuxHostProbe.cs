namespace Paddock.Engine.Hosting;

/// <summary>A Linux host, read from <c>/proc</c> and <c>/sys</c>.</summary>
public sealed class LinuxHostProbe(string procRoot = "/proc", string sysRoot = "/sys") : IHostProbe
{
    public HostOs Os => HostOs.Linux;

    /// <summary>Where KSM is switched: writing 1 or 0 to it.</summary>
    public string KsmRun => Path.Combine(sysRoot, "kernel/mm/ksm/run");

    public HostMemory Memory() => ParseMeminfo(File.ReadLines(Path.Combine(procRoot, "meminfo")));

    /// <summary><c>MemTotal</c>, <c>HugePages_Total</c> and <c>Hugepagesize</c> of <c>/proc/meminfo</c> (sizes in kB); GC's figure when MemTotal is missing.</summary>
    public static HostMemory ParseMeminfo(IEnumerable<string> lines)
    {
        long total = 0, hugePages = 0, hugePageBytes = 0;
        foreach (var line in lines)
        {
            var parts = line.Split(':', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
                continue;
            switch (parts[0])
            {
                case "MemTotal" when Kilobytes(parts[1]) is { } kib:
                    total = kib * 1024;
                    break;
                case "HugePages_Total" when long.TryParse(parts[1], out var pages):
                    hugePages = pages;
                    break;
                case "Hugepagesize" when Kilobytes(parts[1]) is { } kib:
                    hugePageBytes = kib * 1024;
                    break;
            }
        }

        return new HostMemory(total > 0 ? total : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, hugePages, hugePageBytes);
    }

    public int NumaNodes()
    {
        var nodes = Path.Combine(sysRoot, "devices/system/node");
        return Directory.Exists(nodes)
            ? Math.Max(1, Directory.GetDirectories(nodes, "node*").Count(d => int.TryParse(Path.GetFileName(d)[4..], out _)))
            : 1;
    }

    /// <summary>KSM is there when the kernel has it (CONFIG_KSM) and this process may switch it (root, a writable sysfs).</summary>
    public (bool Available, string? Note) Ksm()
    {
        if (!File.Exists(KsmRun))
            return (false, "The kernel has no KSM (no /sys/kernel/mm/ksm).");
        try
        {
            using var probe = new FileStream(KsmRun, FileMode.Open, FileAccess.ReadWrite);
            return (true, null);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return (false, $"KSM cannot be switched from here: {e.Message}");
        }
    }

    /// <summary>/dev/kvm (present, opens read-write), the CPU's flags and the loaded kvm modules.</summary>
    public AcceleratorFacts Accelerator()
    {
        const string device = "/dev/kvm";
        var exists = File.Exists(device);
        var openError = exists ? null : "missing";
        if (exists)
        {
            try
            {
                using var handle = File.OpenHandle(device, FileMode.Open, FileAccess.ReadWrite);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                openError = e.Message;
            }
        }

        return new(HostOs.Linux, exists, openError, ReadCpuFlags(), ReadKvmModules());
    }

    private static long? Kilobytes(string value) =>
        value.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var number, ..] && long.TryParse(number, out var kib) ? kib : null;

    private HashSet<string> ReadCpuFlags()
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(procRoot, "cpuinfo")))
            {
                var colon = line.IndexOf(':');
                if (colon > 0 && line[..colon].Trim() == "flags")
                    return [.. line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)];
            }
        }
        catch (IOException)
        {
        }

        return [];
    }

    /// <summary>
    /// /proc/modules lists loaded modules, but some kernels (this one included) have no /proc/modules;
    /// /sys/module has a directory for every loaded module (and for built-ins with parameters).
    /// </summary>
    private HashSet<string> ReadKvmModules()
    {
        var modules = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            var loaded = Path.Combine(procRoot, "modules");
            if (File.Exists(loaded))
            {
                foreach (var line in File.ReadLines(loaded))
                    modules.Add(line.Split(' ', 2)[0]);
            }

            var module = Path.Combine(sysRoot, "module");
            if (Directory.Exists(module))
            {
                foreach (var dir in Directory.EnumerateDirectories(module))
                    modules.Add(Path.GetFileName(dir));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        modules.RemoveWhere(m => !m.StartsWith("kvm", StringComparison.Ordinal));
        return modules;
    }
}
