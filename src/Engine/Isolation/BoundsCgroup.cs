using System.Globalization;
using Paddock.Engine.Hosting;

namespace Paddock.Engine.Isolation;

/// <summary>
/// Bounds what a VM's QEMU may take from the host, assuming QEMU and its guest hostile: memory
/// (the guest's RAM plus QEMU's own) and tasks (processes and threads), through the memory and
/// pids controllers of a cgroup of its own under <c>paddock/</c>: cgroup v2 (memory.max, pids.max)
/// where the unified hierarchy has the controller, otherwise cgroup v1 (memory.limit_in_bytes, pids.max).
/// Over the memory bound the kernel's OOM killer ends that QEMU alone; over the pids bound its
/// clone() fails. Says what it could not do instead of failing the VM, as <see cref="CpuCgroup"/> does.
/// </summary>
public sealed class BoundsCgroup(string root = "/sys/fs/cgroup")
{
    /// <summary>
    /// QEMU's tasks: the main loop, one thread per vCPU (at most 64 per spec), the RCU and VNC
    /// threads, and the block layer's worker pool (up to 64 per AioContext). A thousand leaves
    /// room for all of them many times over and still stops a fork or thread bomb.
    /// </summary>
    public const int PidsMax = 1024;

    /// <summary>QEMU's own memory beside the guest's RAM, for small VMs: binary, libraries, heap, device and I/O buffers.</summary>
    public const long BaseOverheadBytes = 256L * 1024 * 1024;

    /// <summary>
    /// TCG's translation cache: QEMU 7.2 sizes it to min(1 GiB, host RAM / 8) for system emulation
    /// on 64-bit hosts (accel/tcg, DEFAULT_CODE_GEN_BUFFER_SIZE) and fills it before it flushes,
    /// so a long-running TCG guest touches all of it.
    /// </summary>
    public const long TcgCodeCacheBytes = 1024L * 1024 * 1024;

    /// <summary>
    /// The memory bound for a guest of <paramref name="memoryMiB"/>: its RAM, plus QEMU's overhead of
    /// max(256 MiB, a quarter of the RAM) (page tables, dirty bitmaps and buffers grow with the guest),
    /// plus the translation cache under TCG.
    /// </summary>
    public static long MemoryBytes(int memoryMiB, Accelerator accelerator)
    {
        var guest = memoryMiB * 1024L * 1024;
        return guest + Math.Max(BaseOverheadBytes, guest / 4) + (accelerator == Accelerator.Tcg ? TcgCodeCacheBytes : 0);
    }

    /// <summary>
    /// Bounds the memory process <paramref name="pid"/> may charge; returns where, or throws
    /// <see cref="IOException"/> naming what could not be done.
    /// </summary>
    public string BoundMemory(Guid vmId, int pid, long bytes) =>
        Bound(vmId, pid, "memory", v2 => v2 ? "memory.max" : "memory.limit_in_bytes", bytes);

    /// <summary>Bounds the tasks (processes and threads) process <paramref name="pid"/> may have; returns where, or throws <see cref="IOException"/>.</summary>
    public string BoundPids(Guid vmId, int pid, int max) =>
        Bound(vmId, pid, "pids", _ => "pids.max", max);

    /// <summary>Removes the VM's cgroups once its QEMU is gone (an empty cgroup can be removed).</summary>
    public void Remove(Guid vmId)
    {
        var id = vmId.ToString("D");
        foreach (var dir in new[] { Path.Combine(root, "paddock", id), Path.Combine(root, "memory", "paddock", id),
            Path.Combine(root, "pids", "paddock", id) }.Where(Directory.Exists))
        {
            try
            {
                Directory.Delete(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Still has a process, or was never ours to remove: the next start reuses it.
            }
        }
    }

    private string Bound(Guid vmId, int pid, string controller, Func<bool, string> file, long value)
    {
        var v2 = File.Exists(Path.Combine(root, "cgroup.controllers"))
            && File.ReadAllText(Path.Combine(root, "cgroup.controllers")).Split(' ', StringSplitOptions.TrimEntries).Contains(controller);
        // A v1 hierarchy is mounted where its root has cgroup.procs; a bare directory (a tmpfs) is not one.
        if (!v2 && !File.Exists(Path.Combine(root, controller, "cgroup.procs")))
            throw new IOException($"No cgroup {controller} controller under {root} (neither cgroup v2 with {controller} nor v1 {controller}).");

        var dir = v2 ? Path.Combine(root, "paddock", vmId.ToString("D")) : Path.Combine(root, controller, "paddock", vmId.ToString("D"));
        try
        {
            if (v2)
            {
                // Controllers must be enabled down the path for the leaf to have the controller's files.
                Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
                File.AppendAllText(Path.Combine(root, "cgroup.subtree_control"), $"+{controller}");
                File.AppendAllText(Path.Combine(root, "paddock", "cgroup.subtree_control"), $"+{controller}");
            }

            // The bound first, then the move: QEMU is never in the cgroup without it.
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, file(v2)), value.ToString(CultureInfo.InvariantCulture));
            File.WriteAllText(Path.Combine(dir, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cgroup {dir}: {e.Message}", e);
        }

        return $"cgroup v{(v2 ? 2 : 1)} {dir}";
    }
}
