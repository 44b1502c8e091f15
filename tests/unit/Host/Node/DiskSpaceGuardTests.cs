using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Host;
using Paddock.Host.Node;

namespace Paddock.Unit.Host.Node;

public sealed class DiskSpaceGuardTests
{
    private const long MiB = 1024 * 1024;

    private static DiskSpaceGuard With(long freeBytes, int floorMiB = 1024) =>
        new(Options.Create(new AgentOptions { PortalUrl = "https://portal", DataDir = "/var/lib/paddock/x", MinFreeDiskMiB = floorMiB }), _ => freeBytes);

    [Theory]
    [InlineData(VmVerb.Create)]
    [InlineData(VmVerb.Save)]
    [InlineData(VmVerb.Snapshot)]
    [InlineData(VmVerb.ConvertToTemplate)]
    [InlineData(VmVerb.ChangeHardware)]
    public void Operations_that_take_disk_are_refused_below_the_floor_with_the_figures(VmVerb verb)
    {
        var refused = Assert.Throws<InvalidOperationException>(() => With(1023 * MiB).CheckRoom(verb));

        Assert.Equal(
            $"{verb} is refused: this host has 1023 MiB of disk free and keeps at least 1024 MiB free for the VMs that run. Try again once space is freed.",
            refused.Message);
    }

    [Theory]
    [InlineData(VmVerb.Start)]
    [InlineData(VmVerb.PowerOff)]
    [InlineData(VmVerb.Delete)]
    [InlineData(VmVerb.DeleteSnapshot)]
    [InlineData(VmVerb.Restore)]
    public void Operations_that_free_or_take_no_disk_go_through_on_a_full_disk(VmVerb verb) =>
        With(0).CheckRoom(verb);

    [Fact]
    public void At_the_floor_an_operation_goes_through() =>
        With(1024 * MiB).CheckRoom(VmVerb.Create);

    [Fact]
    public void The_real_file_system_reports_its_free_space()
    {
        var data = Directory.CreateTempSubdirectory("paddock-space-");
        try
        {
            Directory.CreateDirectory(Path.Combine(data.FullName, "vms"));
            var guard = new DiskSpaceGuard(Options.Create(new AgentOptions { PortalUrl = "https://portal", DataDir = data.FullName }));

            Assert.True(guard.FreeBytes() > 0);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }
}
