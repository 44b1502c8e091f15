using Paddock.Engine.Hosting;
using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Hosting;

public sealed class DiskRoomTests
{
    private static readonly DiskRoom Room = new("saving the VM's state", (272L << 20) - 5, (9L << 20) + 999);

    [Theory]
    [InlineData(28)]  // ENOSPC
    [InlineData(122)] // EDQUOT
    public void A_write_error_of_a_full_disk_or_quota_is_a_full_disk_told_with_the_figures_and_without_the_kernels_path(int errno)
    {
        var e = Room.Full(new IOException("No space left on device : '/var/lib/paddock/vms/x/state.partial'", errno));

        Assert.NotNull(e);
        Assert.Equal("The host's disk is full: saving the VM's state needs about 272 MiB and 9 MiB were free.", e.Message);
        Assert.DoesNotContain("/var/lib", e.Message);
    }

    [Fact]
    public void Other_write_errors_are_not_a_full_disk()
    {
        Assert.Null(Room.Full(new IOException("Input/output error", 5)));
        Assert.Null(Room.Full(new InvalidOperationException("No space left on device")));
        Assert.Null(Room.Full(new QemuImgException("convert", 1, "qemu-img: Could not open 'x': Permission denied")));
    }

    [Fact]
    public void Qemu_imgs_full_disk_is_recognised_by_its_strerror_also_wrapped()
    {
        var qemuImg = new QemuImgException("convert", 1, "qemu-img: error while writing at byte 1048576: No space left on device\n");

        Assert.True(DiskRoom.IsFull(qemuImg));
        Assert.True(DiskRoom.IsFull(new InvalidOperationException("copy failed", qemuImg)));
        Assert.True(DiskRoom.SaysFull("Error while writing VM state: Disk quota exceeded"));
        Assert.False(DiskRoom.SaysFull(null));
    }

    [Fact]
    public void The_portal_tells_its_own_disk()
    {
        var e = new DiskRoom("this upload", 2L << 20, 0, "portal's").Full(new IOException("full", 28))!;

        Assert.Equal("The portal's disk is full: this upload needs about 2 MiB and 0 MiB were free.", e.Message);
    }

    [Fact]
    public void A_full_disk_told_already_is_not_told_again_with_other_figures()
    {
        var told = new DiskFullException(new DiskRoom("a full copy of disk-disk0.qcow2", 10L << 20, 1L << 20));

        Assert.Same(told, Room.Full(told));
    }
}
