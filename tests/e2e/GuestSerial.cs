using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Paddock.E2e;

/// <summary>What the tests read from and type into a guest's first serial port (its log and its socket).</summary>
public static partial class GuestSerial
{
    /// <summary>Waits until the guest in <paramref name="runDir"/> has printed its shell banner <paramref name="count"/> times (once per boot).</summary>
    public static Task WaitForShellAsync(string runDir, int count = 1, string what = "the guest's shell") =>
        Eventually.Async(() => Banners(Path.Combine(runDir, "serial.log")) == count, PaddockFixture.Boot, what);

    public static int Banners(string serialLog) => Regex.Count(Read(serialLog), "paddock-template ready");

    public static int LastTick(string serialLog) =>
        TickPattern().Matches(Read(serialLog)).Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(0).Max();

    public static string Read(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Types a line into the guest's serial shell through the VM's serial socket (which only root can open).</summary>
    public static async Task TypeAsync(string runDir, string line) => await RunAsync(runDir, line, wait: false);

    /// <summary>Runs a line on the serial shell and returns what the serial port printed meanwhile (up to <paramref name="within"/>, 5 s by default).</summary>
    public static async Task<string> RunAsync(string runDir, string line, bool wait = true, string until = "done-pidof", TimeSpan? within = null)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(runDir, "qemu", "serial.sock")));
        // Ctrl-C first: ends a loop left running by an earlier line.
        await socket.SendAsync(Encoding.ASCII.GetBytes("\u0003" + line + "\r"));
        var seen = new StringBuilder();
        var buffer = new byte[4096];
        using var enough = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(wait ? 5 : 1));
        try
        {
            while (!enough.IsCancellationRequested)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, enough.Token);
                if (read == 0)
                {
                    break;
                }

                seen.Append(Encoding.ASCII.GetString(buffer, 0, read));
                if (wait && seen.ToString().Contains(until))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Read for a while: QEMU drops serial output when its one client stops reading.
        }

        return seen.ToString();
    }

    /// <summary>
    /// Starts a counter on the serial shell: "tick-1", "tick-2", ... five a second. It waits with the
    /// shell's own read on a FIFO that nobody writes, not with sleep: no process is forked and
    /// started five times a second, which under TCG costs CPU and dirties guest memory while it moves.
    /// </summary>
    public static Task StartCounterAsync(string runDir) =>
        TypeAsync(runDir, "mkfifo /run/tick 2>/dev/null; exec 3<>/run/tick; i=0; while :; do i=$((i+1)); echo tick-$i; read -t 0.2 x <&3; done");

    /// <summary>
    /// Starts a loop in the background that writes 4 MiB of random bytes to the guest's memory (its
    /// /run is a tmpfs) every second; it ignores the Ctrl-C that later lines start with.
    /// </summary>
    public static async Task StartChurnAsync(string runDir)
    {
        await TypeAsync(runDir, "(trap '' INT; while :; do dd if=/dev/urandom of=/run/churn bs=1M count=4 2>/dev/null; sleep 1; done) &");
        // The echoed line holds quotes: only a churn that wrote prints "churn-on". Its first write
        // can take seconds under TCG on a loaded machine: waited for, up to 30 s.
        var seen = await RunAsync(runDir, "n=0; while [ ! -s /run/churn ] && [ $n -lt 30 ]; do sleep 1; n=$((n+1)); done; [ -s /run/churn ] && echo churn-\"on\"; echo done-\"churn\"",
            until: "done-churn", within: TimeSpan.FromSeconds(45));
        Assert.Contains("churn-on", seen);
    }

    /// <summary>Every tick from the first to the last is in the log: the guest never stopped counting.</summary>
    public static bool TicksWithoutGap(string serialLog)
    {
        var ticks = TickPattern().Matches(Read(serialLog)).Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
        return ticks.Count > 0 && Enumerable.Range(ticks.Min(), ticks.Max() - ticks.Min() + 1).All(ticks.Contains);
    }

    [GeneratedRegex(@"tick-(\d+)")]
    private static partial Regex TickPattern();
}
