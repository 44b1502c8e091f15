using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

public sealed class DiskImagesTests
{
    [Fact]
    public void Overlay_is_created_with_explicit_formats_and_an_absolute_base()
    {
        var args = DiskImages.OverlayArgs("/var/lib/paddock/images/debian, 12.qcow2", "/run/vm/disk-root.qcow2", 20L << 30, "qcow2");

        Assert.Equal(
            ["create", "-f", "qcow2", "-b", "/var/lib/paddock/images/debian, 12.qcow2", "-F", "qcow2", "/run/vm/disk-root.qcow2", "21474836480"],
            args);
    }

    [Fact]
    public void Overlay_without_a_size_takes_the_base_size()
    {
        Assert.Equal(8, DiskImages.OverlayArgs("/images/base.qcow2", "/run/vm/disk-root.qcow2", null, "qcow2").Count);
    }

    [Fact]
    public void Relative_paths_are_made_absolute_so_they_cannot_read_as_protocols_or_options()
    {
        var args = DiskImages.InfoArgs("nbd:host:10809", "raw");

        Assert.Equal(["info", "-U", "-f", "raw", "--output=json", Path.GetFullPath("nbd:host:10809")], args);
        Assert.StartsWith("/", args[^1]);
    }

    [Fact]
    public void A_leak_repair_states_the_format_and_doubles_commas_in_the_path()
    {
        Assert.Equal(
            ["check", "-r", "leaks", "--output=json", "--image-opts", "driver=qcow2,file.driver=file,file.filename=/run/vm/disk,,a.qcow2"],
            DiskImages.RepairLeaksArgs("/run/vm/disk,a.qcow2"));
    }

    [Theory]
    [InlineData("""{"image-end-offset": 262144, "total-clusters": 16384, "check-errors": 0, "leaks-fixed": 8192, "format": "qcow2"}""", 8192)]
    [InlineData("""{"image-end-offset": 262144, "total-clusters": 16384, "check-errors": 0, "format": "qcow2"}""", 0)]
    public void The_clusters_a_repair_freed_are_read_from_its_report(string json, long freed) =>
        Assert.Equal(freed, DiskImages.LeaksFixed(json));

    [Fact]
    public void Blank_image_has_format_path_and_size()
    {
        Assert.Equal(["create", "-f", "qcow2", "/run/vm/disk-data.qcow2", "1073741824"], DiskImages.BlankArgs("/run/vm/disk-data.qcow2", 1L << 30));
    }

    [Fact]
    public void An_existing_file_is_never_overwritten()
    {
        var existing = Path.GetTempFileName();
        try
        {
            Assert.Throws<IOException>(() => DiskImages.BlankArgs(existing, 1 << 20));
        }
        finally
        {
            File.Delete(existing);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("qcow2 -o")]
    [InlineData("QCOW2")]
    public void Odd_format_names_are_refused(string format)
    {
        Assert.Throws<ArgumentException>(() => DiskImages.InfoArgs("/x.img", format));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Non_positive_sizes_are_refused(long size)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DiskImages.BlankArgs("/run/vm/new.qcow2", size));
    }

    [Fact]
    public void Info_of_an_overlay_names_its_backing_file()
    {
        // qemu-img 7.2 output for "qemu-img create -f qcow2 -b /tmp/qx/base.qcow2 -F qcow2 ov.qcow2".
        const string json = """
            {
                "backing-filename-format": "qcow2",
                "virtual-size": 67108864,
                "filename": "ov.qcow2",
                "cluster-size": 65536,
                "format": "qcow2",
                "actual-size": 200704,
                "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "compression-type": "zlib", "lazy-refcounts": false,
                    "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
                "full-backing-filename": "/tmp/qx/base.qcow2",
                "backing-filename": "/tmp/qx/base.qcow2",
                "dirty-flag": false
            }
            """;

        var info = DiskImageInfo.Parse(json);

        Assert.Equal("qcow2", info.Format);
        Assert.Equal(64L << 20, info.VirtualSize);
        Assert.Equal(200704, info.ActualSize);
        Assert.Equal("/tmp/qx/base.qcow2", info.BackingFile);
        Assert.Equal("qcow2", info.BackingFormat);
        Assert.Null(info.DataFile);
        Assert.Equal(["/tmp/qx/base.qcow2"], info.ExternalFiles);
    }

    [Fact]
    public void Info_reveals_a_qcow2_data_file_reference()
    {
        // qemu-img 7.2 output for "qemu-img create -f qcow2 -o data_file=/tmp/qx/data.raw df.qcow2 1M".
        const string json = """
            {"virtual-size": 1048576, "filename": "df.qcow2", "cluster-size": 65536, "format": "qcow2", "actual-size": 200704,
             "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "data-file": "/tmp/qx/data.raw", "data-file-raw": false, "corrupt": false}},
             "dirty-flag": false}
            """;

        var info = DiskImageInfo.Parse(json);

        Assert.Equal("/tmp/qx/data.raw", info.DataFile);
        Assert.True(info.ReferencesOtherFiles);
    }

    [Fact]
    public void Info_reveals_vmdk_extents_in_other_files()
    {
        // qemu-img 7.2 output for a twoGbMaxExtentSparse VMDK: the descriptor points at another file.
        const string json = """
            {"virtual-size": 1048576, "filename": "vm.vmdk", "cluster-size": 65536, "format": "vmdk", "actual-size": 16384,
             "format-specific": {"type": "vmdk", "data": {"cid": 1314739887, "parent-cid": 4294967295, "create-type": "twoGbMaxExtentSparse",
               "extents": [{"virtual-size": 1048576, "filename": "vm-s001.vmdk", "cluster-size": 65536, "format": "SPARSE"}]}},
             "dirty-flag": false}
            """;

        Assert.Equal(["vm-s001.vmdk"], DiskImageInfo.Parse(json).ExternalFiles);
    }

    [Fact]
    public void Info_of_a_standalone_image_references_nothing()
    {
        const string json = """{"virtual-size": 1073741824, "filename": "/x.raw", "format": "raw", "actual-size": 4096, "dirty-flag": false}""";

        var info = DiskImageInfo.Parse(json);

        Assert.False(info.ReferencesOtherFiles);
        Assert.Equal("raw", info.Format);
    }

    [Fact]
    public void Info_lists_internal_snapshots_with_the_size_of_their_ram_state()
    {
        // As qemu-img 7.2 prints it.
        const string json = """
            {"snapshots": [
                {"icount": 0, "vm-clock-nsec": 0, "name": "disks", "date-sec": 1795697194, "date-nsec": 522553000, "vm-clock-sec": 0,
                 "id": "1", "vm-state-size": 0},
                {"name": "with-ram", "date-sec": 1795697200, "id": "2", "vm-state-size": 23456789}],
             "virtual-size": 16777216, "filename": "s.qcow2", "format": "qcow2", "actual-size": 208896, "dirty-flag": false}
            """;

        var info = DiskImageInfo.Parse(json);

        Assert.Equal(
            [new DiskImageSnapshot("disks", 0, DateTimeOffset.FromUnixTimeSeconds(1795697194)),
                new DiskImageSnapshot("with-ram", 23456789, DateTimeOffset.FromUnixTimeSeconds(1795697200))],
            info.Snapshots);
        Assert.Equal(208896, info.ActualSize);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{}")]
    [InlineData("""{"format": "raw"}""")]
    public void Unexpected_info_output_is_a_format_error(string json)
    {
        Assert.Throws<FormatException>(() => DiskImageInfo.Parse(json));
    }
}
