using Paddock.Engine.Hosting;
using Paddock.Engine.Isolation;

namespace Paddock.Unit.Engine.Isolation;

public sealed class BoundsCgroupTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private static readonly Guid VmId = Guid.Parse("0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f");
    private readonly string _root = Path.Join(Path.GetTempPath(), $"paddock-cg-{Guid.NewGuid():N}");

    [Theory]
    [InlineData(256, Accelerator.Kvm, 512)]
    [InlineData(4096, Accelerator.Kvm, 5120)]
    [InlineData(256, Accelerator.Tcg, 1536)]
    [InlineData(8192, Accelerator.Tcg, 11264)]
    public void Memory_is_the_guests_plus_max_256_MiB_or_a_quarter_plus_the_translation_cache_under_tcg(int guestMiB, Accelerator accelerator, long expectedMiB)
    {
        Assert.Equal(expectedMiB * MiB, BoundsCgroup.MemoryBytes(guestMiB, accelerator));
    }

    [Fact]
    public void Cgroup_v1_bounds_memory_and_pids_in_their_own_hierarchies_before_moving_the_process()
    {
        foreach (var controller in new[] { "memory", "pids" })
        {
            Directory.CreateDirectory(Path.Join(_root, controller));
            File.WriteAllText(Path.Join(_root, controller, "cgroup.procs"), "");
        }

        var cgroup = new BoundsCgroup(_root);
        var memoryWhere = cgroup.BoundMemory(VmId, 4242, 512 * MiB);
        var pidsWhere = cgroup.BoundPids(VmId, 4242, 1024);

        var memory = Path.Join(_root, "memory", "paddock", VmId.ToString());
        var pids = Path.Join(_root, "pids", "paddock", VmId.ToString());
        Assert.Equal("536870912", File.ReadAllText(Path.Join(memory, "memory.limit_in_bytes")));
        Assert.Equal("1024", File.ReadAllText(Path.Join(pids, "pids.max")));
        Assert.Equal("4242", File.ReadAllText(Path.Join(memory, "cgroup.procs")));
        Assert.Equal("4242", File.ReadAllText(Path.Join(pids, "cgroup.procs")));
        Assert.Equal($"cgroup v1 {memory}", memoryWhere);
        Assert.Equal($"cgroup v1 {pids}", pidsWhere);
    }

    [Fact]
    public void Cgroup_v2_enables_memory_and_pids_down_the_path_and_bounds_one_directory()
    {
        Directory.CreateDirectory(_root);
        File.WriteAllText(Path.Join(_root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n");

        var cgroup = new BoundsCgroup(_root);
        cgroup.BoundMemory(VmId, 4242, 512 * MiB);
        cgroup.BoundPids(VmId, 4242, 1024);

        var dir = Path.Join(_root, "paddock", VmId.ToString());
        Assert.Equal("+memory+pids", File.ReadAllText(Path.Join(_root, "paddock", "cgroup.subtree_control")));
        Assert.Equal("536870912", File.ReadAllText(Path.Join(dir, "memory.max")));
        Assert.Equal("1024", File.ReadAllText(Path.Join(dir, "pids.max")));
    }

    [Fact]
    public void A_bare_directory_is_no_cgroup_hierarchy_and_the_bound_is_refused_naming_the_controller()
    {
        // /sys/fs/cgroup may be a writable tmpfs: writing limit files into plain directories would pretend.
        Directory.CreateDirectory(Path.Join(_root, "memory"));

        var e = Assert.Throws<IOException>(() => new BoundsCgroup(_root).BoundMemory(VmId, 4242, 512 * MiB));

        Assert.Equal($"No cgroup memory controller under {_root} (neither cgroup v2 with memory nor v1 memory).", e.Message);
        Assert.False(Directory.Exists(Path.Join(_root, "memory", "paddock")));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }
}
