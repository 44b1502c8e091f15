using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

public sealed class DiskImagesSnapshotTests
{
    [Fact]
    public void Disk_snapshots_state_the_format_and_double_commas_in_the_path() =>
        Assert.Equal(
            ["snapshot", "-c", "before", "--image-opts", "driver=qcow2,file.driver=file,file.filename=/vms/a,,b/disk-disk0.qcow2"],
            DiskImages.SnapshotArgs("/vms/a,b/disk-disk0.qcow2", 'c', "before"));
}
