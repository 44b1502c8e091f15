using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Paddock.Bench;

/// <summary>One overlay disk of a VM: what <c>qemu-img create -b</c> needs to make it again.</summary>
public sealed record OverlayDisk(string FileName, string BasePath, string BaseFormat, long SizeBytes);

/// <summary>
/// The QEMU command line the agent used for a portal-created VM (read from /proc/PID/cmdline, so
/// exactly what ran) and its disks, to launch the same machine elsewhere.
/// </summary>
public sealed record QemuCommand(IReadOnlyList<string> Argv, string RunDirectory, IReadOnlyList<OverlayDisk> Disks)
{
    public static async Task<QemuCommand> CaptureAsync(string runDirectory, CancellationToken ct)
    {
        var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(runDirectory, "qemu", "qemu.pid"), ct)).Trim());
        var cmdline = await File.ReadAllTextAsync($"/proc/{pid}/cmdline", ct);
        // NUL-terminated arguments: the last split is the empty string after the final NUL.
        var argv = cmdline.Split('\0')[..^1];
        var disks = new List<OverlayDisk>();
        foreach (var disk in Directory.GetFiles(runDirectory, "disk-*.qcow2").Order())
        {
            // -U: the running QEMU holds the image locked.
            var info = JsonDocument.Parse(await ChildProcess.RunAsync("qemu-img", ["info", "-U", "-f", "qcow2", "--output=json", disk], ct)).RootElement;
            var basePath = info.TryGetProperty("full-backing-filename", out var full) ? full.GetString() : info.GetProperty("backing-filename").GetString();
            disks.Add(new OverlayDisk(Path.GetFileName(disk), basePath!, info.GetProperty("backing-filename-format").GetString()!,
                info.GetProperty("virtual-size").GetInt64()));
        }

        return new QemuCommand(argv, runDirectory, disks);
    }

    /// <summary>The same argv aimed at <paramref name="runDirectory"/>; <paramref name="vnc"/> replaces the value of <c>-vnc</c>.</summary>
    public IReadOnlyList<string> For(string runDirectory, string? vnc = null)
    {
        var argv = Argv.Select(a => a.Replace(RunDirectory, runDirectory, StringComparison.Ordinal)).ToList();
        if (vnc is not null)
        {
            argv[argv.IndexOf("-vnc") + 1] = vnc;
        }

        return argv;
    }
}

/// <summary>
/// QEMU run directly as root with the agent's argv, in a fresh directory of its own: no portal,
/// no agent, no setsid/setpriv/sh, no per-VM uid.
/// </summary>
public sealed class BareQemu : IAsyncDisposable
{
    private readonly Process _process;

    private BareQemu(string runDirectory, Process process)
    {
        RunDirectory = runDirectory;
        _process = process;
    }

    public string RunDirectory { get; }

    /// <summary>QEMU's pidfile and sockets sit in <c>qemu/</c> of the run directory, as the agent lays it out.</summary>
    public string QmpSocket => Path.Combine(RunDirectory, "qemu", "qmp.sock");

    public string SerialLog => Path.Combine(RunDirectory, "serial.log");

    /// <summary>Creates the overlays as the agent does (<c>qemu-img create -f qcow2 -b BASE -F FMT overlay SIZE</c>), then starts QEMU.</summary>
    public static async Task<BareQemu> StartAsync(QemuCommand command, string? vnc, CancellationToken ct)
    {
        // Short, under /tmp: unix socket paths must stay below 108 bytes.
        var directory = Directory.CreateTempSubdirectory("paddock-bench-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(directory, "qemu"));
            foreach (var disk in command.Disks)
            {
                await ChildProcess.RunAsync("qemu-img",
                    ["create", "-f", "qcow2", "-b", disk.BasePath, "-F", disk.BaseFormat, Path.Combine(directory, disk.FileName), disk.SizeBytes.ToString()], ct);
            }

            var argv = command.For(directory, vnc);
            var process = ChildProcess.Start(argv[0], argv.Skip(1), new() { ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin" },
                Path.Combine(directory, "qemu.log"), ownEnvironmentOnly: true);
            return new BareQemu(directory, process);
        }
        catch
        {
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Connects to QMP as soon as its socket accepts (retrying every ~1 ms), negotiates
    /// capabilities and asks <c>query-status</c> until it says running. Without -S that is the
    /// first answer: the vCPUs run from the moment QEMU serves its monitor.
    /// </summary>
    public async Task WaitForQmpRunningAsync(TimeSpan within, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(within);
        var token = deadline.Token;
        Socket socket;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Bare QEMU exited with code {_process.ExitCode}; see {RunDirectory}/qemu.log.");
            }

            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(QmpSocket), token);
                break;
            }
            catch (SocketException)
            {
                socket.Dispose();
                await Task.Delay(1, token);
            }
        }

        await using var stream = new NetworkStream(socket, ownsSocket: true);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await ReadAsync(reader, "QMP", token);
        await SendAsync(stream, "qmp_capabilities", token);
        await ReadAsync(reader, "return", token);
        while (true)
        {
            await SendAsync(stream, "query-status", token);
            var status = (await ReadAsync(reader, "return", token)).GetProperty("status").GetString();
            if (status == "running")
            {
                return;
            }

            await Task.Delay(1, token);
        }
    }

    public Task WaitForSerialAsync(string text, TimeSpan within, CancellationToken ct) => Serial.WaitForAsync(SerialLog, text, within, ct);

    private static async Task SendAsync(NetworkStream stream, string command, CancellationToken ct) =>
        await stream.WriteAsync(Encoding.UTF8.GetBytes($"{{\"execute\":\"{command}\"}}\n"), ct);

    /// <summary>The next line holding <paramref name="member"/> at its top level (events in between are skipped).</summary>
    private static async Task<JsonElement> ReadAsync(StreamReader reader, string member, CancellationToken ct)
    {
        while (true)
        {
            var line = await reader.ReadLineAsync(ct) ?? throw new IOException("QMP closed.");
            var message = JsonDocument.Parse(line).RootElement;
            if (message.TryGetProperty("error", out var error))
            {
                throw new InvalidOperationException($"QMP error: {error}");
            }

            if (message.TryGetProperty(member, out var value))
            {
                return value;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(RunDirectory, recursive: true);
    }
}

public static class Serial
{
    /// <summary>Waits until the guest has written <paramref name="text"/> to its serial log.</summary>
    public static async Task WaitForAsync(string serialLog, string text, TimeSpan within, CancellationToken ct)
    {
        try
        {
            await Wait.UntilAsync(() => File.Exists(serialLog) && Read(serialLog).Contains(text, StringComparison.Ordinal), within,
                $"'{text}' in {serialLog}", ct, poll: TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException e)
        {
            var tail = File.Exists(serialLog) ? Read(serialLog) : "(no serial log)";
            throw new TimeoutException($"{e.Message} The log ends: {tail[Math.Max(0, tail.Length - 1500)..]}", e);
        }
    }

    private static string Read(string path) => ReadFrom(path, 0);

    /// <summary>What the guest wrote to its serial log from byte <paramref name="offset"/> on ("" while there is no log).</summary>
    public static string ReadFrom(string path, long offset)
    {
        if (!File.Exists(path))
        {
            return "";
        }

        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        file.Seek(Math.Min(offset, file.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(file);
        return reader.ReadToEnd();
    }
}
