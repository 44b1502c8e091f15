using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

public sealed class QemuImgSandboxTests
{
    [Fact]
    public void As_root_qemu_img_gets_no_network_its_own_ids_no_new_privileges_and_limits()
    {
        var sandbox = QemuImgSandbox.For(1_999_999, 1_999_998, root: true) with { FileSizeBytes = 5 << 20 };

        Assert.Equal(
            ["/usr/bin/unshare", "--net", "/usr/bin/setpriv", "--reuid", "1999999", "--regid", "1999998", "--clear-groups", "--no-new-privs",
             "/usr/bin/prlimit", "--as=1073741824", "--cpu=60", "--fsize=5242880", "--", "/usr/bin/qemu-img", "info", "x"],
            sandbox.Argv("/usr/bin/qemu-img", ["info", "x"]));
    }

    [Fact]
    public void Not_root_it_keeps_the_ids_and_the_limits()
    {
        var sandbox = QemuImgSandbox.For(1_999_999, 1_999_999, root: false);

        Assert.Equal(["/usr/bin/prlimit", "--as=1073741824", "--cpu=60", "--fsize=0", "--", "qemu-img", "measure"], sandbox.Argv("qemu-img", ["measure"]));
    }

    [Fact]
    public void Root_is_never_the_uid_it_changes_to()
    {
        var sandbox = new QemuImgSandbox { Uid = 0, Gid = 0 };

        Assert.Throws<ArgumentOutOfRangeException>(() => sandbox.Argv("qemu-img", ["info"]));
    }

    [Fact]
    public void Qemu_img_through_the_sandbox_has_an_explicit_measure_argv() =>
        Assert.Equal(["measure", "-f", "vmdk", "-O", "qcow2", "--output=json", "/up/load"], DiskImages.MeasureArgs("/up/load", "vmdk"));

    [Theory]
    [InlineData(128 + 25, "it would write more than allowed")]
    [InlineData(128 + 24, "it used more CPU time than allowed")]
    [InlineData(1, null)]
    public void A_limit_the_kernel_enforced_is_named(int exitCode, string? expected) =>
        Assert.Equal(expected, QemuImgSandbox.LimitHit(exitCode));

    [Fact]
    public void A_vmdk_text_descriptor_is_refused_with_its_extents_and_a_sparse_one_is_not()
    {
        var refusal = VmdkDescriptor.Refusal("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"/etc/passwd\" 0\nRW 8 ZERO\n"u8);

        Assert.StartsWith("This VMDK is split into 2 extents (createType monolithicFlat; '/etc/passwd', (no file))", refusal);
        Assert.Null(VmdkDescriptor.Refusal("KDMV\u0001\0\0\0"u8));
    }
}
