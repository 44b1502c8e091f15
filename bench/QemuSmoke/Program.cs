// Starts one VM through the engine exactly as the agent would and checks what the brief promises:
//   dotnet run --project bench/QemuSmoke [-- <uid> <run root>]
// and the agent-restart case (QEMU outlives the process that started it):
//   id=$(dotnet run --project bench/QemuSmoke -- outlive | cut -d' ' -f1)
//   dotnet run --project bench/QemuSmoke -- reattach $id
// Needs root, qemu-system-x86, qemu-utils, setpriv. Exits non-zero on the first failed check.
using System.Diagnostics;
using System.Text.Json;
using Paddock.Engine.Hosting;
using Paddock.Engine.Images;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

if (!OperatingSystem.IsLinux())
    return 2;
// "outlive": start a VM and exit, leaving QEMU running; "reattach <vm id>": a new process finds it,
// talks to it, stops it, and sees it dead (a zombie here: PID 1 does not reap orphans).
if (args is ["outlive", ..] or ["reattach", ..])
    return await Outlive.RunAsync(args);

var uid = args.Length > 0 ? int.Parse(args[0]) : 200_000;
// A comma and a space in the run root prove the escaping end to end.
var runRoot = args.Length > 1 ? args[1] : "/tmp/paddock smoke,1";
QemuProcess? started = null;
using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
var ct = timeout.Token;

var choice = Accelerators.Detect();
Check($"accelerator {choice.Name}; warning: {choice.Warning ?? "(none)"}", true);

var spec = new VmSpec(Guid.NewGuid(), 1, 2, 128, VmSpec.DefaultMachineType, uid,
    [new DiskSpec("root", 64L << 20, null)], [new NicSpec("net0", "52:54:00:12:34:56")]);
var paths = RunDirectory.Create(VmPaths.For(runRoot, spec.Id), uid, uid);
await new DiskImages().CreateBlankAsync(paths.Disk("root"), spec.Disks[0].SizeBytes, ct);
RunDirectory.SecureFile(paths.Disk("root"), uid, uid);
var info = await new DiskImages().InfoAsync(paths.Disk("root"), "qcow2", ct);
Check($"qemu-img info: {info.Format} {info.VirtualSize} bytes, external files {info.ExternalFiles.Count}", info.VirtualSize == 64L << 20);

var argv = QemuCommandLine.Build(spec, paths, choice.Accelerator, new QemuLaunchOptions { StartPaused = true });
Console.WriteLine(string.Join(' ', argv));
var clock = Stopwatch.StartNew();
var qemu = await QemuProcess.StartAsync(spec.Id, argv, paths, uid, uid, ct: ct);
started = qemu;
Console.WriteLine($"started pid {qemu.Pid} in {clock.ElapsedMilliseconds} ms");

var status = File.ReadAllLines($"/proc/{qemu.Pid}/status");
Check("Seccomp: 2", status.Contains("Seccomp:\t2"));
Check($"Uid {uid}", status.Any(l => l.StartsWith("Uid:") && l.Split('\t', StringSplitOptions.RemoveEmptyEntries).Skip(1).All(v => v == uid.ToString())));
Check($"Gid {uid}", status.Any(l => l.StartsWith("Gid:") && l.Split('\t', StringSplitOptions.RemoveEmptyEntries).Skip(1).All(v => v == uid.ToString())));
Check("no supplementary groups", status.Any(l => l.StartsWith("Groups:") && l[7..].Trim().Length == 0));
var stat = File.ReadAllText($"/proc/{qemu.Pid}/stat").Split(") ")[1].Split(' ');
Check($"own session (sid {stat[3]} == pid)", stat[3] == qemu.Pid.ToString());
Check("pidfile names the pid", File.ReadAllText(paths.PidFile).Trim() == qemu.Pid.ToString());
var fds = Directory.GetFileSystemEntries($"/proc/{qemu.Pid}/fd").Select(f => (Fd: Path.GetFileName(f), Target: new FileInfo(f).LinkTarget)).ToList();
foreach (var (fd, target) in fds)
    Console.WriteLine($"  fd {fd} -> {target}");
Check("stdin /dev/null, stdout/stderr files", fds.Single(f => f.Fd == "0").Target == "/dev/null"
    && fds.Single(f => f.Fd == "1").Target == paths.Stdout && fds.Single(f => f.Fd == "2").Target == paths.Stderr);
Check("no pipe among QEMU's fds", !fds.Any(f => f.Target?.StartsWith("pipe:") == true));
Check("run directory mode 0700", File.GetUnixFileMode(paths.RunDirectory) == (UnixFileMode)0x1C0);
Check("qemu.stderr mode 0600", File.GetUnixFileMode(paths.Stderr) == (UnixFileMode)0x180);
Check("re-attach finds it", QemuProcess.Attach(spec.Id, paths, uid)?.Pid == qemu.Pid);
Check("re-attach refuses another VM id", QemuProcess.Attach(Guid.NewGuid(), paths) is null);

await using (var qmp = await qemu.ConnectQmpAsync(ct))
{
    Check($"greeting {qmp.Greeting.GetProperty("version").GetProperty("qemu")}", true);
    var s = await qmp.ExecuteAsync("query-status", ct: ct);
    Check($"query-status {s}", s.GetProperty("status").GetString() is "prelaunch" or "paused");
    var vnc = await qmp.ExecuteAsync("query-vnc", ct: ct);
    Check($"VNC on the unix socket ({vnc.GetProperty("service")})", vnc.GetProperty("service").GetString() == paths.VncSocket);
    var blocks = await qmp.ExecuteAsync("query-named-block-nodes", new { flat = true }, ct);
    Check("block nodes root and file-root", blocks.EnumerateArray().Select(b => b.GetProperty("node-name").GetString()).Order().SequenceEqual(["file-root", "root"]));
    try
    {
        await qmp.ExecuteAsync("no-such-command", ct: ct);
        Check("error reply", false);
    }
    catch (QmpErrorException e)
    {
        Check($"error reply: {e.ErrorClass}: {e.Description}", e.ErrorClass == "CommandNotFound");
    }

    await qmp.ExecuteAsync("cont", ct: ct);
    var resume = await NextEvent(qmp, ct);
    Check($"event {resume.Name} at {resume.Timestamp:O}", resume.Name == "RESUME");
    s = await qmp.ExecuteAsync("query-status", ct: ct);
    Check($"running: {s.GetProperty("status")}", s.GetProperty("status").GetString() == "running");

    // On quit, QEMU sends SHUTDOWN before the reply (REFERENCE.md); the reader must not care.
    await qmp.ExecuteAsync("quit", ct: ct);
    var shutdown = await NextEvent(qmp, ct);
    Check($"event {shutdown.Name} {shutdown.Data}", shutdown.Name == "SHUTDOWN");
    await qmp.Completion.WaitAsync(TimeSpan.FromSeconds(10), ct);
    Check("EOF: Completion done, events completed", qmp.Events.Completion.IsCompleted && !qmp.IsConnected);
    try
    {
        await qmp.ExecuteAsync("query-status", ct: ct);
        Check("command after EOF fails", false);
    }
    catch (QmpConnectionClosedException)
    {
        Check("command after EOF fails with QmpConnectionClosedException", true);
    }
}

Check("process gone", await qemu.WaitForExitAsync(TimeSpan.FromSeconds(10), ct));
Check($"exit code {qemu.ExitCode}", qemu.ExitCode == 0);
Check("IsAlive(pid) false", !QemuProcess.IsAlive(qemu.Pid));
Console.WriteLine("qemu.stderr tail: " + string.Join(" | ", QemuProcess.ReadStderrTail(paths, 5)));

// An early exit (an unknown device) must surface with QEMU's own words.
var broken = argv.Select(a => a.StartsWith("virtio-balloon-pci") ? "no-such-device,id=x" : a).ToList();
try
{
    var q = await QemuProcess.StartAsync(spec.Id, broken, paths, uid, uid, ct: ct);
    await using var qmp = await q.ConnectQmpAsync(ct);
    Check("broken device line fails", false);
}
catch (QemuStartException e)
{
    Check($"early exit reported: {e.Message.ReplaceLineEndings(" | ")}", e.StderrTail.Any(l => l.Contains("no-such-device")));
}

// sVirt-style separation by uid alone: the next uid cannot read this VM's disk.
var peek = Process.Start(new ProcessStartInfo("/usr/bin/setpriv", ["--reuid", $"{uid + 1}", "--regid", $"{uid + 1}", "--clear-groups", "--", "/bin/cat", paths.Disk("root")])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
})!;
var denied = await peek.StandardError.ReadToEndAsync(ct);
await peek.WaitForExitAsync(ct);
Check($"uid {uid + 1} cannot read the disk: {denied.Trim()}", peek.ExitCode != 0 && denied.Contains("Permission denied"));

// A linked clone on a base image whose path has a comma and a space.
var images = new ImageStore(Path.Join(runRoot, "images, base"));
Directory.CreateDirectory(images.Directory);
var basePath = images.Resolve("base,1.qcow2");
File.Delete(basePath);
await new DiskImages().CreateBlankAsync(basePath, 32L << 20, ct);
var overlay = Path.Join(paths.RunDirectory, "overlay.qcow2");
await new DiskImages().CreateOverlayAsync(basePath, overlay, 64L << 20, ct: ct);
var overlayInfo = await new DiskImages().InfoAsync(overlay, "qcow2", ct);
Check($"overlay backing {overlayInfo.BackingFile} ({overlayInfo.BackingFormat}), {overlayInfo.VirtualSize} bytes",
    overlayInfo.BackingFile == basePath && overlayInfo.BackingFormat == "qcow2" && overlayInfo.ReferencesOtherFiles && overlayInfo.VirtualSize == 64L << 20);
try
{
    await new DiskImages().CreateBlankAsync(Path.Join(runRoot, "no such dir", "x.qcow2"), 1 << 20, ct);
    Check("qemu-img failure", false);
}
catch (QemuImgException e)
{
    Check($"qemu-img failure typed: {e.Message}", e.ExitCode != 0 && e.Stderr.Length > 0);
}
Directory.Delete(images.Directory, true);

RunDirectory.Delete(paths);
Check("run directory deleted", !Directory.Exists(paths.RunDirectory));
Console.WriteLine("ALL CHECKS PASSED");
return 0;

static async Task<QmpEvent> NextEvent(QmpClient qmp, CancellationToken ct)
{
    using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
    wait.CancelAfter(TimeSpan.FromSeconds(10));
    return await qmp.Events.ReadAsync(wait.Token);
}

void Check(string what, bool ok)
{
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
    if (ok)
        return;
    started?.Kill();
    Environment.Exit(1);
}
