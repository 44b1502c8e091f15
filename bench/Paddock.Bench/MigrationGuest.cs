using System.Diagnostics;
using Paddock.Engine.Hosting;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Bench;

/// <summary>
/// One QEMU of the migration benchmark's guest, run as root in a fresh directory of its own under
/// /tmp: the engine's argv for a 256 MiB, one-vCPU linked clone of the built-in template (sandbox
/// on, QMP and serial on unix sockets). A destination starts with <c>-incoming defer -S</c>.
/// </summary>
public sealed class MigrationGuest : IAsyncDisposable
{
    public const int MemoryMiB = 256;
    public const string Template = "builtin-busybox.qcow2";

    public static readonly DiskSpec Disk = new("disk0", 64L << 20, Template);

    // The uid is not in the argv: like the other bare runs, the bench starts QEMU as root itself.
    private static readonly VmSpec Spec = new(Guid.Parse("0b5e55ed-0000-4000-8000-000000000018"), 1, 1, MemoryMiB, VmSpec.DefaultMachineType, 64018,
        [Disk], [new NicSpec("net0", "52:54:00:12:34:18")]);

    private readonly Process _process;

    private MigrationGuest(VmPaths paths, Process process)
    {
        Paths = paths;
        Shell = new GuestShell(paths);
        _process = process;
    }

    public VmPaths Paths { get; }

    /// <summary>The guest's root shell on its serial port.</summary>
    public GuestShell Shell { get; }

    /// <summary>Where a destination's QEMU serves the disks (NBD) and awaits the migration stream.</summary>
    public string NbdSocket => Path.Join(Paths.QemuDirectory, "nbd.sock");

    public string MigrationSocket => Path.Join(Paths.QemuDirectory, "migrate.sock");

    /// <summary>Makes a fresh overlay on the template (as the agent does for a linked clone) and starts QEMU.</summary>
    public static async Task<MigrationGuest> StartAsync(string imagesDirectory, bool incoming, CancellationToken ct)
    {
        // Short, under /tmp: unix socket paths must stay below 108 bytes.
        var paths = new VmPaths(Directory.CreateTempSubdirectory("pmig-").FullName);
        try
        {
            Directory.CreateDirectory(paths.QemuDirectory);
            await ChildProcess.RunAsync("qemu-img",
                ["create", "-f", "qcow2", "-b", Path.Combine(imagesDirectory, Template), "-F", "qcow2", paths.Disk(Disk.Id), Disk.SizeBytes.ToString()], ct);
            var options = new QemuLaunchOptions { ImagesDirectory = imagesDirectory, StartPaused = incoming, IncomingDeferred = incoming };
            var argv = QemuCommandLine.Build(Spec, paths, Accelerators.Detect().Accelerator, options);
            var process = ChildProcess.Start(argv[0], argv.Skip(1), new() { ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin" }, paths.Stderr, ownEnvironmentOnly: true);
            return new MigrationGuest(paths, process);
        }
        catch
        {
            Directory.Delete(paths.RunDirectory, recursive: true);
            throw;
        }
    }

    /// <summary>The engine's QMP client on this QEMU, once its monitor socket exists (as the agent waits for it).</summary>
    public async Task<QmpClient> ConnectAsync(CancellationToken ct)
    {
        await Wait.UntilAsync(() => File.Exists(Paths.QmpSocket), TimeSpan.FromSeconds(30), Paths.QmpSocket, ct, poll: TimeSpan.FromMilliseconds(10));
        return await QmpClient.ConnectAsync(Paths.QmpSocket, ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(Paths.RunDirectory, recursive: true);
    }
}
