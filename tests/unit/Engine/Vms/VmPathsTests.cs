using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Vms;

public sealed class VmPathsTests
{
    [Fact]
    public void Names_every_file_inside_the_run_directory()
    {
        var id = Guid.Parse("0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f");
        var paths = VmPaths.For("/var/lib/paddock/vms/", id);

        Assert.Equal("/var/lib/paddock/vms/0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f", paths.RunDirectory);
        Assert.Equal($"{paths.RunDirectory}/disk-root.qcow2", paths.Disk("root"));
        Assert.Equal($"{paths.RunDirectory}/qemu/qmp.sock", paths.QmpSocket);
        Assert.Equal($"{paths.RunDirectory}/qemu/vnc.sock", paths.VncSocket);
        Assert.Equal($"{paths.RunDirectory}/qemu/serial.sock", paths.SerialSocket);
        Assert.Equal($"{paths.RunDirectory}/serial.log", paths.SerialLog);
        Assert.Equal($"{paths.RunDirectory}/qemu/qemu.pid", paths.PidFile);
        Assert.Equal($"{paths.RunDirectory}/qemu.stdout", paths.Stdout);
        Assert.Equal($"{paths.RunDirectory}/qemu.stderr", paths.Stderr);
        Assert.Equal($"{paths.RunDirectory}/spec.json", paths.SpecFile);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("A")]
    public void A_disk_id_cannot_climb_out_of_the_run_directory(string id)
    {
        Assert.Throws<ArgumentException>(() => new VmPaths("/run/vm").Disk(id));
    }

    [Theory]
    [InlineData("relative/dir")]
    [InlineData("/run/a\nb")]
    [InlineData("/run/a\0b")]
    public void Relative_or_unsafe_run_directories_are_refused(string dir)
    {
        Assert.Throws<ArgumentException>(() => new VmPaths(dir));
    }

    [Fact]
    public void A_run_directory_too_long_for_unix_sockets_is_refused()
    {
        var fits = "/" + new string('d', VmPaths.MaxSocketPathBytes - "/qemu/qmp-test.sock".Length - 1);

        _ = new VmPaths(fits);
        var error = Assert.Throws<ArgumentException>(() => new VmPaths(fits + "d"));
        Assert.Contains("107", error.Message);
    }

    [Fact]
    public void Equal_directories_give_equal_paths()
    {
        Assert.Equal(new VmPaths("/run/vm/"), new VmPaths("/run/vm"));
    }
}
