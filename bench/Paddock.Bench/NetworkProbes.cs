using System.Globalization;
using System.Text.RegularExpressions;

namespace Paddock.Bench;

/// <summary>Two guests on one L2 segment: the sender measures, the receiver listens or answers.</summary>
public sealed record GuestPair(string Label, GuestShell Sender, GuestShell Receiver, string ReceiverAddress);

/// <summary>
/// What the network benchmark types into the guests (busybox, no iperf): a stream of zeros through
/// <c>nc</c> for throughput, <c>ping</c> for the round trip. The echo of a typed line never matches
/// an answer: each marker is spelled with <c>''</c> in it (<c>sent-o''k</c> prints <c>sent-ok</c>).
/// </summary>
public static partial class NetworkProbes
{
    /// <summary>Each transfer listens on a port of its own: a receiver's last connection may linger in TIME_WAIT on the previous one.</summary>
    private static int LastPort = 5000;

    /// <summary>
    /// Megabits per second from sender to receiver: <paramref name="mib"/> MiB of zeros piped from dd
    /// into nc, timed by the sender's <c>/proc/uptime</c> (10 ms steps) from before dd starts to nc's
    /// end, which comes once the receiver has read everything and closed. The receiver's nc reads an
    /// idle pipe, not the console: an nc whose input ends closes its side and the sender's nc with it.
    /// </summary>
    public static async Task<double> ThroughputAsync(GuestPair pair, int mib, CancellationToken ct)
    {
        var port = ++LastPort;
        await pair.Receiver.AskAsync(
            $"(sleep 600 | nc -l -p {port} > /dev/null) & until netstat -ltn | grep -q ':{port} '; do usleep 10000; done; echo listening-o''k",
            ListeningPattern(), TimeSpan.FromSeconds(30), ct);
        var sent = await pair.Sender.AskAsync(
            $"a=$(cat /proc/uptime); if dd if=/dev/zero bs=64k count={mib * 16} 2>/dev/null | nc {pair.ReceiverAddress} {port}; " +
            "then echo sent-o''k $a $(cat /proc/uptime); else echo sent-f''ailed; fi",
            SentPattern(), TimeSpan.FromSeconds(30 + 5 * mib), ct);
        if (!sent.Groups["start"].Success)
        {
            throw new InvalidOperationException($"{pair.Label}: nc to {pair.ReceiverAddress}:{port} failed.");
        }

        var seconds = Number(sent.Groups["end"]) - Number(sent.Groups["start"]);
        return mib * 1024 * 1024 * 8 / 1e6 / Math.Max(seconds, 0.01);
    }

    /// <summary>The average round trip (ms) of <paramref name="count"/> pings 0.2 s apart; every one must come back.</summary>
    public static async Task<double> RoundTripAsync(GuestPair pair, int count, CancellationToken ct)
    {
        var said = await pair.Sender.AskAsync($"ping -q -c {count} -i 0.2 -W 5 {pair.ReceiverAddress}; echo pinged-o''k",
            PingPattern(), TimeSpan.FromSeconds(15 + count), ct);
        var received = int.Parse(said.Groups["received"].Value, CultureInfo.InvariantCulture);
        if (received != count || !said.Groups["avg"].Success)
        {
            throw new InvalidOperationException($"{pair.Label}: {received} of {count} pings to {pair.ReceiverAddress} came back.");
        }

        return Number(said.Groups["avg"]);
    }

    /// <summary>Gives the guest's NIC its address by hand (the same on a tenant network as on the plain bridge: no DHCP in the figures).</summary>
    public static Task ConfigureAsync(GuestShell guest, string address, CancellationToken ct) =>
        guest.AskAsync($"ip link set eth0 up; ip addr add {address}/24 dev eth0; echo address-o''k", AddressPattern(), TimeSpan.FromSeconds(30), ct);

    private static double Number(Group group) => double.Parse(group.Value, CultureInfo.InvariantCulture);

    [GeneratedRegex("listening-ok")]
    private static partial Regex ListeningPattern();

    // Up to the line's end: the log may be read while the guest is still printing it.
    [GeneratedRegex(@"sent-(?:ok (?<start>[0-9.]+) [0-9.]+ (?<end>[0-9.]+) [0-9.]+\r?\n|failed)")]
    private static partial Regex SentPattern();

    [GeneratedRegex(@"(?<received>\d+) packets received.*?(?:round-trip min/avg/max = [0-9.]+/(?<avg>[0-9.]+)/.*?)?pinged-ok", RegexOptions.Singleline)]
    private static partial Regex PingPattern();

    [GeneratedRegex("address-ok")]
    private static partial Regex AddressPattern();
}
