using Paddock.Engine.Hosting;
using Paddock.Engine.Isolation;
using Paddock.Engine.Qemu;

namespace Paddock.Unit.Engine.Isolation;

public sealed class CpuCgroupTests
{
    [Fact]
    public void Cgroup_v2_gets_the_weight_as_given_and_the_cap_as_quota_and_period()
    {
        Assert.Equal([("cpu.weight", "50"), ("cpu.max", "50000 100000")], CpuCgroup.V2Values(50, 50));
        Assert.Equal([("cpu.max", "max 100000")], CpuCgroup.V2Values(null, null));
        Assert.Equal([("cpu.max", "250000 100000")], CpuCgroup.V2Values(null, 250));
    }

    [Fact]
    public void Cgroup_v1_scales_the_weight_to_shares_and_minus_one_is_no_cap()
    {
        Assert.Equal([("cpu.shares", "512"), ("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "50000")], CpuCgroup.V1Values(50, 50));
        Assert.Equal([("cpu.shares", "10"), ("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "-1")], CpuCgroup.V1Values(1, null));
        Assert.Equal("2", CpuCgroup.V1Values(0, null)[0].Value);
    }

    [Fact]
    public void Without_a_cpu_controller_the_reason_is_given_not_swallowed()
    {
        var root = Directory.CreateTempSubdirectory("paddock-cgroup-").FullName;
        try
        {
            var e = Assert.Throws<IOException>(() => new CpuCgroup(root).Apply(Guid.NewGuid(), 1, 50, null));
            Assert.Contains("No cgroup cpu controller", e.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Process_usage_reads_cpu_ticks_and_resident_memory()
    {
        // Fields 14 and 15 (utime, stime) after a name with a space and a parenthesis.
        const string stat = "4242 (qemu-system) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 3 0 123 1000 50 18446744073709551615";
        var usage = ProcessUsage.Parse(stat,
            ["Name:\tqemu", "Uid:\t2000123\t2000123\t2000123\t2000123", "Gid:\t2000123\t2000123\t2000123\t2000123", "VmRSS:\t  204800 kB",
                "Threads:\t3", "Seccomp:\t2"]);

        Assert.Equal(new ProcessUsage(204800L * 1024, 4.0, 2000123, 2000123, 2), usage);
        Assert.Null(ProcessUsage.Parse("garbage", []));
    }

    [Fact]
    public void Ksm_counts_pages_sharing_as_the_memory_saved()
    {
        var root = Directory.CreateTempSubdirectory("paddock-ksm-").FullName;
        try
        {
            Assert.False(new Ksm(Path.Combine(root, "none")).Read().Available);
            File.WriteAllText(Path.Combine(root, "run"), "1\n");
            File.WriteAllText(Path.Combine(root, "pages_shared"), "10\n");
            File.WriteAllText(Path.Combine(root, "pages_sharing"), "300\n");

            var status = new Ksm(root).Read();

            Assert.Equal(new KsmStatus(true, true, 10, 300, 300L * Environment.SystemPageSize, null), status);
            Assert.Null(new Ksm(root).Switch(false));
            Assert.False(new Ksm(root).Read().Running);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
