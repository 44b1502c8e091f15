using System.Diagnostics;
using System.Text;
using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

/// <summary>Hostile and honest uploads through the real qemu-img: refused ones leave nothing on disk.</summary>
public sealed class ImageImportTests : IDisposable
{
    private const long MaxVirtual = 1L << 30;
    private readonly string _dir = Directory.CreateTempSubdirectory("paddock-import-").FullName;
    private readonly ImageImport _import = new(new DiskImages());

    private string Upload => Path.Combine(_dir, "upload");

    private string Target => Path.Combine(_dir, "library.img");

    [Fact]
    public async Task A_qcow2_whose_backing_file_is_etc_shadow_is_refused_and_nothing_is_left()
    {
        QemuImg("create", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", Upload, "1M");

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => _import.ImportAsync(Upload, ImageKind.Disk, "qcow2", Target, MaxVirtual));

        Assert.Contains("'/etc/shadow'", refusal.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task A_qcow2_with_an_external_data_file_is_refused()
    {
        var data = Path.Combine(_dir, "elsewhere.raw");
        QemuImg("create", "-f", "qcow2", "-o", $"data_file={data}", Upload, "1M");

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => _import.ImportAsync(Upload, ImageKind.Disk, "qcow2", Target, MaxVirtual));

        Assert.Contains(data, refusal.Message);
        Assert.Equal([data], Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task A_vmdk_descriptor_with_an_extent_on_a_host_file_is_refused()
    {
        File.WriteAllText(Upload, """
            # Disk DescriptorFile
            version=1
            CID=fffffffe
            parentCID=ffffffff
            createType="monolithicFlat"
            RW 8 FLAT "/etc/passwd" 0
            ddb.virtualHWVersion = "4"
            """);

        await Assert.ThrowsAsync<ImageRefusedException>(() => _import.ImportAsync(Upload, ImageKind.Disk, "vmdk", Target, MaxVirtual));

        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task Random_bytes_are_no_qcow2_and_no_iso()
    {
        File.WriteAllBytes(Upload, System.Security.Cryptography.RandomNumberGenerator.GetBytes(256 * 1024));
        var asQcow2 = await Assert.ThrowsAsync<ImageRefusedException>(() => _import.ImportAsync(Upload, ImageKind.Disk, "qcow2", Target, MaxVirtual));
        File.WriteAllBytes(Upload, System.Security.Cryptography.RandomNumberGenerator.GetBytes(256 * 1024));
        var asIso = await Assert.ThrowsAsync<ImageRefusedException>(() => _import.ImportAsync(Upload, ImageKind.Iso, "raw", Target, MaxVirtual));

        Assert.StartsWith("This is not a valid qcow2 image", asQcow2.Message);
        Assert.StartsWith("This is not an ISO 9660 CD image", asIso.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task A_raw_disk_that_starts_with_a_qcow2_header_stays_raw()
    {
        // A qcow2 header naming /etc/shadow as backing file, then zeros: as raw, only bytes.
        var hostile = Path.Combine(_dir, "hostile.qcow2");
        QemuImg("create", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", hostile, "1M");
        var bytes = File.ReadAllBytes(hostile);
        File.Delete(hostile);
        Array.Resize(ref bytes, 1024 * 1024);
        File.WriteAllBytes(Upload, bytes);

        var imported = await _import.ImportAsync(Upload, ImageKind.Disk, "raw", Target, MaxVirtual);

        Assert.Equal("qcow2", imported.Format);
        Assert.Equal(1024 * 1024, imported.VirtualSize);
        var back = Path.Combine(_dir, "back.raw");
        QemuImg("convert", "-f", "qcow2", "-O", "raw", Target, back);
        Assert.Equal(bytes, File.ReadAllBytes(back));
        Assert.DoesNotContain("backing", QemuImg("info", "-f", "qcow2", Target));
    }

    [Fact]
    public async Task A_disk_larger_than_allowed_is_refused_by_its_virtual_size()
    {
        QemuImg("create", "-f", "qcow2", Upload, "4G");

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => _import.ImportAsync(Upload, ImageKind.Disk, "qcow2", Target, MaxVirtual));

        Assert.Equal("The image's disk is 4096 MiB; at most 1024 MiB are allowed.", refusal.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task An_honest_vdi_becomes_a_standalone_qcow2_with_its_checksum()
    {
        QemuImg("create", "-f", "vdi", Upload, "8M");

        var imported = await _import.ImportAsync(Upload, ImageKind.Disk, "vdi", Target, MaxVirtual);

        Assert.Equal([Target], Directory.EnumerateFileSystemEntries(_dir));
        Assert.Equal(8 * 1024 * 1024, imported.VirtualSize);
        Assert.Equal(await ImageImport.Sha256Async(Target), imported.Sha256);
        Assert.Contains("file format: qcow2", QemuImg("info", "-f", "qcow2", Target));
    }

    [Fact]
    public async Task An_iso_is_kept_as_it_is()
    {
        var iso = new byte[40 * 2048];
        Encoding.ASCII.GetBytes("CD001").CopyTo(iso, 16 * 2048 + 1);
        File.WriteAllBytes(Upload, iso);

        var imported = await _import.ImportAsync(Upload, ImageKind.Iso, "raw", Target, MaxVirtual);

        Assert.Equal("raw", imported.Format);
        Assert.Equal(iso, File.ReadAllBytes(Target));
    }

    private static string QemuImg(params string[] args)
    {
        var start = new ProcessStartInfo("qemu-img") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, output);
        return output;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
