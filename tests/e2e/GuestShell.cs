using System.Text.RegularExpressions;

namespace Paddock.E2e;

/// <summary>Network probes typed into a guest's serial shell, and what their output says.</summary>
public static partial class GuestShell
{
    /// <summary>Runs a line on the guest's serial shell and returns what it printed, up to the end marker.</summary>
    public static async Task<string> RunAsync(string runDir, string line, TimeSpan? within = null)
    {
        var said = await GuestSerial.RunAsync(runDir, $"{line}; echo done-\"line\"", until: "done-line", within: within ?? TimeSpan.FromSeconds(30));
        if (!said.Contains("done-line") && said.Contains(ShellBanner))
        {
            // The guest's own shell died under the line (this static busybox's ash and ping have
            // aborted with "corrupted double-linked list") and init started a new one: once more.
            said = await GuestSerial.RunAsync(runDir, $"{line}; echo done-\"line\"", until: "done-line", within: within ?? TimeSpan.FromSeconds(30));
        }

        Assert.True(said.Contains("done-line"), $"'{line}' did not finish; the port printed:\n{said}");
        return said;
    }

    /// <summary>
    /// A probe that must not reach anything (another tenant's address): what the port printed within
    /// <paramref name="within"/>, finished or not. A busybox nc left hanging by a guest under TCG
    /// (seen once in CI) reached nothing either; the next line's Ctrl-C ends it.
    /// </summary>
    public static Task<string> ProbeAsync(string runDir, string line, TimeSpan within) =>
        GuestSerial.RunAsync(runDir, $"{line}; echo done-\"line\"", until: "done-line", within: within);

    /// <summary>What the built-in template's init prints each time it starts a shell on the serial port.</summary>
    private const string ShellBanner = "paddock-template ready";

    /// <summary>
    /// udhcpc reports the lease on <paramref name="device"/> (it sets nothing itself: -s /bin/true);
    /// the address and, with <paramref name="route"/>, the default route are then set by hand, and
    /// for the first NIC (eth0) the resolver: the gateway of its network answers names.
    /// </summary>
    public static Task<string> LeaseAsync(string runDir, string address, int prefixLength, string gateway, bool route = false, string device = "eth0") =>
        RunAsync(runDir,
            $"ip link set {device} up; udhcpc -i {device} -n -q -t 8 -T 2 -s /bin/true 2>&1; ip addr add {address}/{prefixLength} dev {device}" +
            (device == "eth0" ? $"; echo nameserver {gateway} > /etc/resolv.conf" : "") +
            (route ? $"; ip route add default via {gateway}" : ""),
            TimeSpan.FromSeconds(40));

    /// <summary>An HTTP GET with busybox nc (busybox wget crashes in this static build: "Segmentation fault").</summary>
    public static string Fetch(string address) => $"(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 4 {address} 80 2>&1)";

    public static void Says(string expected, string said, bool not = false) =>
        Assert.True(said.Contains(expected, StringComparison.Ordinal) != not, $"Expected {(not ? "no " : "")}'{expected}' in what the guest said:\n{said}");

    /// <summary>How many replies busybox ping counted, or -1 when it printed no summary.</summary>
    public static int Received(string said) =>
        ReceivedPattern().Match(said) is { Success: true } m ? int.Parse(m.Groups[1].Value) : -1;

    /// <summary>busybox ping counted <paramref name="expected"/> replies; otherwise the test fails with what the guest said.</summary>
    public static void Replies(int expected, string said) =>
        Assert.True(Received(said) == expected, $"Expected {expected} ping replies; the guest said:\n{said}");

    [GeneratedRegex(@"(\d+) packets received")]
    private static partial Regex ReceivedPattern();
}
