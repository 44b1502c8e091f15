using Paddock.Host.Node;

namespace Paddock.Unit.Host.Node;

/// <summary>A hostile QEMU's counters cannot overflow the host's totals (LINQ's Sum would throw and end every VM's usage report).</summary>
public sealed class VmIoSamplerTests
{
    [Fact]
    public void Counters_add_up_and_stop_at_the_largest_long()
    {
        Assert.Equal(6, VmIoSampler.Sum([1L, 2L, 3L], n => n));
        Assert.Equal(0, VmIoSampler.Sum(Array.Empty<long>(), n => n));
        Assert.Equal(long.MaxValue, VmIoSampler.Sum([long.MaxValue - 1, 5L, long.MaxValue], n => n));
        Assert.Equal(long.MaxValue, VmIoSampler.Sum([long.MaxValue, 0L], n => n));
    }
}
