using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

/// <summary>A VM's disk header is the guest's to forge: before a copy reads it, it must name only the VM's own base.</summary>
public sealed class VmDisksTests
{
    private const string Base = "/var/lib/paddock/images/builtin-busybox.qcow2";

    private static DiskImageInfo Header(
        string? backing = null, string? backingFormat = null, string? dataFile = null, string format = "qcow2", bool encrypted = false) =>
        new(format, 1L << 30, 1 << 20, backing, backingFormat, dataFile, [.. new[] { backing, dataFile }.OfType<string>()]) { Encrypted = encrypted };

    [Fact]
    public void An_overlay_naming_exactly_its_base_passes() =>
        Assert.Null(VmDisks.HeaderProblem(Header(Base, "qcow2"), Base));

    [Fact]
    public void A_standalone_disk_naming_nothing_passes() =>
        Assert.Null(VmDisks.HeaderProblem(Header(), expectedBase: null));

    [Theory]
    [InlineData("/etc/shadow", "raw", "names '/etc/shadow' as its backing file")]
    [InlineData("/var/lib/paddock/vms/other/disk-root.qcow2", "qcow2", "not its base")]
    [InlineData("/var/lib/paddock/images/../images/builtin-busybox.qcow2", "qcow2", "not its base")]
    [InlineData(Base, "raw", "names its base as raw")]
    [InlineData("json:{\"driver\":\"file\",\"filename\":\"/etc/shadow\"}", "qcow2", "not its base")]
    public void An_overlay_naming_another_file_or_format_is_refused(string backing, string format, string reason) =>
        Assert.Contains(reason, VmDisks.HeaderProblem(Header(backing, format), Base));

    [Fact]
    public void A_standalone_disk_that_grew_a_backing_file_is_refused() =>
        Assert.Contains("names a backing file ('/etc/shadow') though it has none", VmDisks.HeaderProblem(Header("/etc/shadow", "raw"), expectedBase: null));

    [Fact]
    public void A_data_file_an_encrypted_disk_or_another_format_is_refused()
    {
        Assert.Contains("external data file ('/etc/shadow')", VmDisks.HeaderProblem(Header(Base, "qcow2", dataFile: "/etc/shadow"), Base));
        Assert.Contains("encrypted", VmDisks.HeaderProblem(Header(encrypted: true), null));
        Assert.Contains("is raw, not qcow2", VmDisks.HeaderProblem(Header(format: "raw"), null));
    }
}
