using System.Globalization;

namespace Paddock.Engine.Images;

/// <summary>
/// How qemu-img runs on a file someone uploaded: in a network namespace of its own (no network),
/// as an unprivileged uid when this process is root, and under rlimits, so that a crafted image that
/// finds a bug in a block driver gets neither root's files, nor the network, nor the machine's memory
/// or CPU, nor more disk than the uploader's storage leaves. The order matters: <c>unshare</c> needs
/// root, so it runs first; <c>setpriv</c> drops the ids (and with them every capability) and sets
/// no_new_privs; <c>prlimit</c>, already unprivileged, may only lower limits.
/// </summary>
public sealed record QemuImgSandbox
{
    public const string Unshare = "/usr/bin/unshare";
    public const string Setpriv = "/usr/bin/setpriv";
    public const string Prlimit = "/usr/bin/prlimit";

    /// <summary>1 GiB: qemu-img's block layer and glibc's malloc arenas need a few hundred MiB of address space at most.</summary>
    public const long DefaultAddressSpaceBytes = 1L << 30;

    /// <summary>60 s of CPU: converting the largest upload is mostly I/O; a loop in a crafted image is not.</summary>
    public const int DefaultCpuSeconds = 60;

    /// <summary>The uid (and gid) qemu-img runs as; null keeps this process's (when it is not root and cannot change them).</summary>
    public int? Uid { get; init; }

    public int? Gid { get; init; }

    public long AddressSpaceBytes { get; init; } = DefaultAddressSpaceBytes;

    public int CpuSeconds { get; init; } = DefaultCpuSeconds;

    /// <summary>The largest file qemu-img may write (RLIMIT_FSIZE; 0 for one that only reads): beyond it the kernel stops it with SIGXFSZ.</summary>
    public long FileSizeBytes { get; init; }

    /// <summary>Whether this process is root (and so can, and must, give qemu-img another uid).</summary>
    public static bool RunningAsRoot => !OperatingSystem.IsWindows() && Interop.Libc.EffectiveUid() == 0;

    /// <summary>The sandbox for this process: the ids change only where it is root, the limits always apply.</summary>
    public static QemuImgSandbox For(int uid, int gid, bool root) => root ? new() { Uid = uid, Gid = gid } : new();

    /// <summary>The whole argv: the sandbox's programs, then <paramref name="qemuImg"/> and its <paramref name="args"/>.</summary>
    public IReadOnlyList<string> Argv(string qemuImg, IReadOnlyList<string> args)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(FileSizeBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(AddressSpaceBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CpuSeconds);
        List<string> argv = [];
        if (Uid is { } uid)
        {
            var gid = Gid ?? uid;
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(uid);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(gid);
            argv.AddRange([Unshare, "--net", Setpriv, "--reuid", Number(uid), "--regid", Number(gid), "--clear-groups", "--no-new-privs"]);
        }

        argv.AddRange([Prlimit, $"--as={Number(AddressSpaceBytes)}", $"--cpu={Number(CpuSeconds)}", $"--fsize={Number(FileSizeBytes)}", "--", qemuImg]);
        argv.AddRange(args);
        return argv;
    }

    /// <summary>What a qemu-img the kernel stopped for a limit did wrong, or null (.NET reports death by signal N as 128 + N).</summary>
    public static string? LimitHit(int exitCode) => exitCode switch
    {
        128 + 24 => "it used more CPU time than allowed",
        128 + 25 => "it would write more than allowed",
        _ => null,
    };

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
