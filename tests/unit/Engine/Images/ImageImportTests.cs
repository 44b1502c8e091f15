using System.Diagnostics;
using System.Text;
using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

/// <summary>Hostile and honest uploads through the real qemu-img: refused ones leave nothing on disk.</summary>
public sealed class ImageImportTests : IDisposable
{
    private const long MaxVirtual = 1L << 30;
    private readonly string _dir = Directory.CreateTempSubdirectory("paddock-import-").FullName;
    private readonly string _staging = Directory.CreateTempSubdirectory("paddock-staging-").FullName;
    private readonly ImageImport _import = new(new DiskImages());

    private string Upload => Path.Combine(_dir, "upload");

    private string Target => Path.Combine(_dir, "library.img");

    [Fact]
    public async Task A_qcow2_whose_backing_file_is_etc_shadow_is_refused_and_nothing_is_left()
    {
        QemuImg("create", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", Upload, "1M");

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Disk, "qcow2"));

        Assert.Contains("'/etc/shadow'", refusal.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task A_qcow2_with_an_external_data_file_is_refused()
    {
        var data = Path.Combine(_dir, "elsewhere.raw");
        QemuImg("create", "-f", "qcow2", "-o", $"data_file={data}", Upload, "1M");

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Disk, "qcow2"));

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

        await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Disk, "vmdk"));

        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task Random_bytes_are_no_qcow2_and_no_iso()
    {
        File.WriteAllBytes(Upload, System.Security.Cryptography.RandomNumberGenerator.GetBytes(256 * 1024));
        var asQcow2 = await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Disk, "qcow2"));
        File.WriteAllBytes(Upload, System.Security.Cryptography.RandomNumberGenerator.GetBytes(256 * 1024));
        var asIso = await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Iso, "raw"));

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

        var imported = await ImportAsync(ImageKind.Disk, "raw");

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

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Disk, "qcow2"));

        Assert.Equal("The image's disk is 4096 MiB; at most 1024 MiB are allowed.", refusal.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task An_honest_vdi_becomes_a_standalone_qcow2_with_its_checksum()
    {
        QemuImg("create", "-f", "vdi", Upload, "8M");

        var imported = await ImportAsync(ImageKind.Disk, "vdi");

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

        var imported = await ImportAsync(ImageKind.Iso, "raw");

        Assert.Equal("raw", imported.Format);
        Assert.Equal(iso, File.ReadAllBytes(Target));
    }

    /// <summary>
    /// Imports <see cref="Upload"/> through a staging directory, as the portal does; what measure
    /// reports lands in <paramref name="measured"/>.
    /// </summary>
    private async Task<ImportedImage> ImportAsync(
        ImageKind kind, string format, long admit = long.MaxValue, List<long>? measured = null, ImageImport? import = null)
    {
        using var staging = UploadStaging.Create(_staging, "u1", (import ?? _import) == _import ? new QemuImgSandbox() : Sandboxed);
        File.Move(Upload, staging.UploadPath);
        return await (import ?? _import).ImportAsync(staging, kind, format, Target, new ImportLimits(MaxVirtual, (required, _) =>
        {
            measured?.Add(required);
            return required <= admit ? Task.FromResult(admit) : throw new ImageRefusedException($"needs {required}");
        }));
    }

    private static readonly QemuImgSandbox Sandboxed = QemuImgSandbox.For(1_999_999, 1_999_999, QemuImgSandbox.RunningAsRoot);

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

    [Fact]
    public async Task A_compressed_qcow2_that_would_expand_past_what_is_admitted_is_refused_before_it_is_converted()
    {
        // 64 MiB of 0x01 bytes compress to a few hundred KiB of qcow2, and convert would write all 64 MiB.
        var raw = Path.Combine(_dir, "ones.raw");
        File.WriteAllBytes(raw, Enumerable.Repeat((byte)1, 64 * 1024 * 1024).ToArray());
        QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", raw, Upload);
        File.Delete(raw);
        var measured = new List<long>();

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Disk, "qcow2", admit: 8 << 20, measured: measured));

        Assert.True(new FileInfo(Target).Exists is false);
        Assert.True(measured.Single() >= 64 << 20, $"measure said {measured.Single()}");
        Assert.StartsWith("needs ", refusal.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_staging));
    }

    [Fact]
    public async Task A_split_vmdk_descriptor_is_refused_with_its_extents_before_qemu_img_opens_it()
    {
        QemuImg("create", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", Upload, "3G");
        foreach (var extent in Directory.EnumerateFiles(_dir, "upload-s*.vmdk"))
        {
            File.Delete(extent);
        }

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(() => ImportAsync(ImageKind.Disk, "vmdk"));

        Assert.True(refusal.Message.StartsWith("This VMDK is split into 2 extents (createType twoGbMaxExtentSparse; 'upload-s001', 'upload-s002')",
            StringComparison.Ordinal), refusal.Message);
    }

    [Fact]
    public async Task In_the_sandbox_qemu_img_converts_as_its_own_uid_and_cannot_read_root_only_files()
    {
        if (!QemuImgSandbox.RunningAsRoot || OperatingSystem.IsWindows())
        {
            return; // Only root changes uids; elsewhere the limits alone apply.
        }

        var sandboxed = new ImageImport(new DiskImages(sandbox: Sandboxed));
        // The sandbox reads the copy it checked last where it lies, as in the library's .incoming (0711).
        File.SetUnixFileMode(_dir,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        QemuImg("create", "-f", "vdi", Upload, "8M");
        var imported = await ImportAsync(ImageKind.Disk, "vdi", import: sandboxed);
        Assert.Equal(8 * 1024 * 1024, imported.VirtualSize);
        File.Delete(Target);

        // A file only root may read (0600, root's): the sandbox's qemu-img cannot open it, root's could.
        using var staging = UploadStaging.Create(_staging, "u2", Sandboxed);
        QemuImg("create", "-f", "qcow2", staging.UploadPath, "1M");
        File.SetUnixFileMode(staging.UploadPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var refusal = await Assert.ThrowsAsync<ImageRefusedException>(
            () => sandboxed.ImportAsync(staging, ImageKind.Disk, "qcow2", Target, new ImportLimits(MaxVirtual, (_, _) => Task.FromResult(long.MaxValue))));

        Assert.EndsWith("Permission denied", refusal.Message);
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        Directory.Delete(_staging, recursive: true);
    }
}
