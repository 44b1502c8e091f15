using System.Security.Cryptography;
using Paddock.Engine.Interop;

namespace Paddock.Engine.Images;

/// <summary>
/// One upload's working directory, where the sandboxed qemu-img reads the upload and writes its
/// conversion: owned by the sandbox's uid with mode 0700 (other uploads' files are not its business;
/// its parent is root's, 0711, so the uid can pass through it but list nothing). Root writes the
/// upload (0644: the uid reads it, cannot change it) and reads the results back only through
/// <see cref="CopyOutAsync"/>: no symlink followed, a regular file, written by the sandbox's uid.
/// Disposing removes the directory and all in it.
/// </summary>
public sealed class UploadStaging : IDisposable
{
    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private UploadStaging(string directory, int? owner)
    {
        Directory = directory;
        Owner = owner;
    }

    public string Directory { get; }

    /// <summary>The uid qemu-img runs as here, or null when it runs as this process.</summary>
    public int? Owner { get; }

    /// <summary>Where the upload is written.</summary>
    public string UploadPath => Path.Combine(Directory, "upload");

    /// <summary>Where qemu-img writes the converted image.</summary>
    public string OutputPath => Path.Combine(Directory, "output.qcow2");

    /// <summary>A new staging directory <paramref name="name"/> under <paramref name="parent"/>, given to <paramref name="sandbox"/>'s uid.</summary>
    public static UploadStaging Create(string parent, string name, QemuImgSandbox sandbox)
    {
        if (ImageStore.WhyInvalid(name) is { } why)
            throw new ArgumentException($"Staging name '{name}' {why}.", nameof(name));
        System.IO.Directory.CreateDirectory(parent);
        var directory = Path.Combine(parent, name);
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(directory);
            return new UploadStaging(directory, null);
        }

        File.SetUnixFileMode(parent,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        // Created afresh (mkdir fails on anything already there, a planted symlink too) and 0700 from the start.
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (sandbox.Uid is { } uid)
            Libc.LChown(directory, uid, sandbox.Gid ?? uid);
        return new UploadStaging(directory, sandbox.Uid);
    }

    /// <summary>The upload's file, new (O_CREAT|O_EXCL: never through a symlink) and readable by the sandbox.</summary>
    public FileStream CreateUpload() => new(UploadPath, NewFile(1 << 20));

    /// <summary>Opens a file of a staging directory for reading: no symlink followed, a regular file.</summary>
    public static FileStream OpenRead(string path) => OperatingSystem.IsWindows() ? File.OpenRead(path) : Libc.OpenReadNoFollow(path);

    /// <summary>
    /// Copies <paramref name="source"/> (a file of this directory) to the new file <paramref name="target"/>
    /// while hashing it; refuses a symlink, anything but a regular file, and a file qemu-img wrote as
    /// someone other than the sandbox's uid (<paramref name="writtenBySandbox"/>). Returns the copy's checksum and size, and the source's owner.
    /// </summary>
    public async Task<(string Sha256, long Size, int? Owner)> CopyOutAsync(string source, string target, bool writtenBySandbox, CancellationToken ct)
    {
        await using var from = OpenRead(source);
        int? owner = null;
        if (!OperatingSystem.IsWindows())
        {
            owner = Libc.RegularFileOwnerAndSize(from.SafeFileHandle).Owner;
            if (writtenBySandbox && Owner is { } uid && owner != uid)
                throw new IOException($"'{source}' belongs to uid {owner}, not to the sandbox's {uid}.");
        }

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var to = new FileStream(target, NewFile(0));
        var buffer = new byte[1 << 20];
        long size = 0;
        int read;
        while ((read = await from.ReadAsync(buffer, ct)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            await to.WriteAsync(buffer.AsMemory(0, read), ct);
            size += read;
        }

        return (Convert.ToHexStringLower(sha.GetHashAndReset()), size, owner);
    }

    private static FileStreamOptions NewFile(int bufferSize)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = bufferSize,
            Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = Readable;
        return options;
    }

    public void Dispose()
    {
        try
        {
            // Recursive delete unlinks symlinks, it never follows them.
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Gone already.
        }
    }
}
