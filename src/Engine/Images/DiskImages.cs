using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Paddock.Engine.Qemu;

namespace Paddock.Engine.Images;

/// <summary>
/// qemu-img, as argv (never a shell). Formats are always explicit: a raw disk a guest wrote a qcow2
/// header into must never be probed as qcow2. Paths are made absolute, so a name like
/// <c>nbd:...</c> or <c>json:{...}</c> can never be read as a protocol, nor one like <c>-x</c> as an option.
/// </summary>
public sealed partial class DiskImages(string qemuImgPath = "/usr/bin/qemu-img", QemuImgSandbox? sandbox = null)
{
    public static TimeSpan DefaultTimeout { get; } = TimeSpan.FromMinutes(5);

    public string QemuImgPath { get; } = qemuImgPath;

    /// <summary>Where qemu-img runs on untrusted files (uploads); null runs it as this process, for the host's own images.</summary>
    public QemuImgSandbox? Sandbox { get; } = sandbox;

    /// <summary>The same qemu-img under <paramref name="with"/>.</summary>
    public DiskImages Confined(QemuImgSandbox with) => new(QemuImgPath, with);

    /// <summary>A qcow2 overlay (linked clone) on <paramref name="basePath"/>: <c>qemu-img create -f qcow2 -b BASE -F FMT OVERLAY [SIZE]</c>.</summary>
    /// <remarks>The base path is stored in the overlay as given, so it is made absolute; <c>-F</c> is mandatory since QEMU 6.1.</remarks>
    public Task CreateOverlayAsync(string basePath, string overlayPath, long? sizeBytes = null, string baseFormat = "qcow2", CancellationToken ct = default) =>
        RunAsync("create", OverlayArgs(basePath, overlayPath, sizeBytes, baseFormat), ct);

    /// <summary>An empty qcow2 image: <c>qemu-img create -f qcow2 PATH SIZE</c>.</summary>
    public Task CreateBlankAsync(string path, long sizeBytes, CancellationToken ct = default) =>
        RunAsync("create", BlankArgs(path, sizeBytes), ct);

    /// <summary><c>qemu-img info -U -f FMT --output=json PATH</c>; -U (force share) reads images a running QEMU holds locked.</summary>
    public async Task<DiskImageInfo> InfoAsync(string path, string format, CancellationToken ct = default) =>
        DiskImageInfo.Parse(await RunAsync("info", InfoArgs(path, format), ct).ConfigureAwait(false));

    internal static IReadOnlyList<string> OverlayArgs(string basePath, string overlayPath, long? sizeBytes, string baseFormat)
    {
        List<string> args = ["create", "-f", "qcow2", "-b", Absolute(basePath, "base image"), "-F", Format(baseFormat), New(overlayPath)];
        if (sizeBytes is { } size)
            args.Add(Size(size));
        return args;
    }

    internal static IReadOnlyList<string> BlankArgs(string path, long sizeBytes) =>
        ["create", "-f", "qcow2", New(path), Size(sizeBytes)];

    /// <summary>A full, independent copy of a qcow2 disk: its backing chain is merged in, so the copy needs no base image.</summary>
    public Task CopyAsync(string sourcePath, string targetPath, CancellationToken ct = default) =>
        RunAsync("convert", CopyArgs(sourcePath, targetPath), ct);

    internal static IReadOnlyList<string> CopyArgs(string sourcePath, string targetPath) => ConvertArgs(sourcePath, "qcow2", targetPath);

    /// <summary>
    /// A qcow2 disk into an existing qcow2 <paramref name="targetPath"/> of the same size (<c>convert -n</c>): a
    /// qemu-img that may not create files where the target lives (an unprivileged uid) can still fill it.
    /// </summary>
    /// <param name="percent">Told how far qemu-img has got (0 to 100) as it goes (<c>-p</c>, <see cref="QemuImgProgress"/>).</param>
    public Task CopyIntoAsync(string sourcePath, string targetPath, CancellationToken ct = default, IProgress<double>? percent = null) =>
        RunAsync("convert", percent is null ? CopyIntoArgs(sourcePath, targetPath) : ["convert", "-p", .. CopyIntoArgs(sourcePath, targetPath).Skip(1)], ct, percent);

    internal static IReadOnlyList<string> CopyIntoArgs(string sourcePath, string targetPath) =>
        ["convert", "-n", "-f", "qcow2", "-O", "qcow2", Absolute(sourcePath, "source image"), Absolute(targetPath, "target image")];

    /// <summary>An image in <paramref name="sourceFormat"/> into a new standalone qcow2 (-f stated, never probed).</summary>
    public Task ConvertAsync(string sourcePath, string sourceFormat, string targetPath, CancellationToken ct = default) =>
        RunAsync("convert", ConvertArgs(sourcePath, sourceFormat, targetPath), ct);

    internal static IReadOnlyList<string> ConvertArgs(string sourcePath, string sourceFormat, string targetPath) =>
        ["convert", "-f", Format(sourceFormat), "-O", "qcow2", Absolute(sourcePath, "source image"), New(targetPath)];

    /// <summary>Grows a stopped VM's qcow2 disk: <c>qemu-img resize -f qcow2 PATH SIZE</c> (never used to shrink).</summary>
    public Task ResizeAsync(string path, long sizeBytes, CancellationToken ct = default) =>
        RunAsync("resize", ResizeArgs(path, sizeBytes), ct);

    internal static IReadOnlyList<string> ResizeArgs(string path, long sizeBytes) =>
        ["resize", "-f", "qcow2", Absolute(path, "image"), Size(sizeBytes)];

    /// <summary>qemu-img snapshot on a stopped VM's qcow2 disk: <paramref name="action"/> is -c (create), -a (apply) or -d (delete).</summary>
    public Task SnapshotAsync(string path, char action, string tag, CancellationToken ct = default) =>
        RunAsync("snapshot", SnapshotArgs(path, action, tag), ct);

    internal static IReadOnlyList<string> SnapshotArgs(string path, char action, string tag) =>
        action is 'c' or 'a' or 'd'
            // qemu-img snapshot has no -f: --image-opts states the format all the same (never probe it).
            ? ["snapshot", $"-{action}", tag, "--image-opts",
                $"driver=qcow2,file.driver=file,file.filename={Qemu.QemuOptionValue.Escape(Absolute(path, "image"), "image")}"]
            : throw new ArgumentOutOfRangeException(nameof(action), action, "c, a or d");

    /// <summary>
    /// <c>qemu-img check -r leaks</c> on a stopped VM's qcow2 disk: frees the clusters nothing refers
    /// to (a snapshot's memory state that QEMU was writing when it failed or died); returns how many.
    /// </summary>
    public async Task<long> RepairLeaksAsync(string path, CancellationToken ct = default) =>
        LeaksFixed(await RunAsync("check", RepairLeaksArgs(path), ct).ConfigureAwait(false));

    internal static IReadOnlyList<string> RepairLeaksArgs(string path) =>
        ["check", "-r", "leaks", "--output=json", "--image-opts",
            $"driver=qcow2,file.driver=file,file.filename={QemuOptionValue.Escape(Absolute(path, "image"), "image")}"];

    /// <summary>"leaks-fixed" of qemu-img check's JSON report; 0 when it found none (the key is then absent).</summary>
    internal static long LeaksFixed(string json)
    {
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.TryGetProperty("leaks-fixed", out var fixedLeaks) ? fixedLeaks.GetInt64() : 0;
    }

    internal static IReadOnlyList<string> InfoArgs(string path, string format) =>
        ["info", "-U", "-f", Format(format), "--output=json", Absolute(path, "image")];

    /// <summary>
    /// How many bytes converting the image to qcow2 would write at most (<c>qemu-img measure -f FMT -O qcow2</c>
    /// "required"): a small image whose clusters expand to far more is refused before it is converted.
    /// </summary>
    public async Task<long> MeasureAsync(string path, string format, CancellationToken ct = default)
    {
        var json = await RunAsync("measure", MeasureArgs(path, format), ct).ConfigureAwait(false);
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            return document.RootElement.GetProperty("required").GetInt64();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new FormatException($"Unexpected qemu-img measure output: {e.Message}", e);
        }
    }

    internal static IReadOnlyList<string> MeasureArgs(string path, string format) =>
        ["measure", "-f", Format(format), "-O", "qcow2", "--output=json", Absolute(path, "image")];

    private async Task<string> RunAsync(string operation, IReadOnlyList<string> args, CancellationToken ct, IProgress<double>? percent = null)
    {
        var argv = Sandbox is { } sandboxed ? sandboxed.Argv(QemuImgPath, args) : [QemuImgPath, .. args];
        var start = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in argv.Skip(1))
            start.ArgumentList.Add(arg);
        start.Environment["LC_ALL"] = "C";
        // One malloc arena: glibc gives each new thread that allocates an arena of its own, mapping
        // 128 MiB of address space to carve it out, so a few I/O workers that start at once under
        // load exhaust the sandbox's address-space limit and qemu-img aborts with
        // "qemu_thread_create: Resource temporarily unavailable" (seen under CI load).
        start.Environment["MALLOC_ARENA_MAX"] = "1";

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {QemuImgPath}.");
        process.StandardInput.Close();
        var stdout = percent is null ? process.StandardOutput.ReadToEndAsync(CancellationToken.None)
            : new QemuImgProgress(percent).ReadAsync(process.StandardOutput).ContinueWith(_ => "", TaskScheduler.Default);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (ct.IsCancellationRequested)
                throw;
            throw new TimeoutException($"qemu-img {operation} did not finish within {DefaultTimeout.TotalMinutes:0} minutes.");
        }

        var output = await stdout.ConfigureAwait(false);
        var errors = await stderr.ConfigureAwait(false);
        if (process.ExitCode != 0)
            throw new QemuImgException(operation, process.ExitCode, errors);
        return output;
    }

    private static string Absolute(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Path.GetFullPath(QemuOptionValue.Verbatim(path, what));
    }

    /// <summary>qemu-img create overwrites without asking; a VM's disk must never be recreated by mistake.</summary>
    private static string New(string path)
    {
        var full = Absolute(path, "new image");
        if (Path.Exists(full))
            throw new IOException($"'{full}' already exists; qemu-img create would overwrite it.");
        return full;
    }

    private static string Size(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    private static string Format(string format) =>
        FormatPattern().IsMatch(format ?? "") ? format! : throw new ArgumentException($"'{format}' is not an image format name.", nameof(format));

    [GeneratedRegex(@"^[a-z0-9]{2,16}\z", RegexOptions.CultureInvariant)]
    private static partial Regex FormatPattern();
}
