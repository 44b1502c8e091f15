using Paddock.Engine.Vms;
using Paddock.Host.Node;

namespace Paddock.Unit.Host.Node;

public sealed class ImageAccessTests
{
    private const string Base = "1111111111111111111111111111111111111111111111111111111111111111.qcow2";
    private const string Iso = "2222222222222222222222222222222222222222222222222222222222222222.iso";

    private static VmSpec Spec(string? baseImage, string? iso) =>
        new(Guid.NewGuid(), 1, 1, 128, VmSpec.DefaultMachineType, 20001, [new DiskSpec("disk0", 1 << 30, baseImage), new DiskSpec("disk1", 1 << 30, null)], [])
        {
            Cdroms = [new CdromSpec("cd0", iso)],
        };

    [Fact]
    public void A_vm_uses_its_disks_bases_and_the_isos_in_its_drives()
    {
        Assert.Equal([Base, Iso], ImageAccess.ImagesOf(Spec(Base, Iso)));
        Assert.Empty(ImageAccess.ImagesOf(Spec(null, null)));
    }

    [Fact]
    public void Only_the_uids_of_vms_that_use_an_image_read_it_each_once()
    {
        (VmSpec, int)[] vms = [(Spec(Base, null), 20001), (Spec(Base, Iso), 20002), (Spec(Base, null), 20001), (Spec(null, null), 20003)];
        Assert.Equal([20001, 20002], ImageAccess.ReadersOf(Base, vms));
        Assert.Equal([20002], ImageAccess.ReadersOf(Iso, vms));
    }

    [Fact]
    public void The_acl_gives_root_read_nobody_else_but_the_readers()
    {
        Assert.Equal("u::r--,g::---,o::---", ImageAccess.AclFor([]));
        Assert.Equal("u::r--,g::---,o::---,m::r--,u:20001:r--,u:20002:r--", ImageAccess.AclFor([20001, 20002]));
    }

    [Fact]
    public void Only_library_images_are_limited_the_built_in_template_stays_for_everyone()
    {
        Assert.True(ImageAccess.IsLibraryImage(Base));
        Assert.True(ImageAccess.IsLibraryImage(Iso));
        Assert.False(ImageAccess.IsLibraryImage("builtin-busybox.qcow2"));
    }
}
