using System.Text.RegularExpressions;
using Npgsql;

namespace Paddock.E2e;

/// <summary>Guests are hostile: from inside a real guest, nothing on the host and no metadata address answers.</summary>
[Collection(PaddockCollection.Name)]
public sealed class GuestNetworkTests(PaddockFixture paddock)
{
    // The guest-local listener the control probe connects to.
    private const string Control = "127.0.0.1:7777";

    [Fact]
    public async Task A_guest_reaches_neither_the_portal_nor_PostgreSQL_through_the_host_nor_a_metadata_address()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Sam);
        // An isolated NIC: QEMU's user-mode NAT ("Isolated (internet only)").
        var vmId = await VmApi.CreateRunningAsync(page, "probe", isolated: true);
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        await GuestSerial.WaitForShellAsync(runDir);

        // 10.0.2.2 is where user-mode networking puts the host's loopback; the portal and
        // PostgreSQL listen on that loopback. 169.254.169.254 is the cloud metadata address.
        string[] forbidden =
        [
            $"10.0.2.2:{new Uri(paddock.PortalUrl).Port}",
            $"10.0.2.2:{new Uri(paddock.HttpUrl).Port}",
            $"10.0.2.2:{new NpgsqlConnectionStringBuilder(paddock.Connection).Port}",
            "169.254.169.254:80",
        ];
        var log = await ProbeAsync(runDir, [Control, .. forbidden]);
        await File.WriteAllTextAsync(Path.Combine(paddock.Artifacts, "guest-network-probes.txt"), log);

        // Controls: the probe reports an open port as open, and slirp answers the guest's NIC
        // (its DHCP server still works under restrict=on), so a "shut" below is not a dead NIC.
        Assert.Equal("open", Outcome(log, Control));
        Assert.Contains("lease of 10.0.2.15 obtained", log);
        // One list, so a failure names every target that answered.
        Assert.Equal(forbidden.Select(t => $"{t} shut"), forbidden.Select(t => $"{t} {Outcome(log, t)}"));
    }

    /// <summary>
    /// Brings up eth0 and tries a TCP connection to each target with busybox nc (3 s connect
    /// timeout); prints "probe-HOST:PORT-open" or "-shut" for each. Returns what the port printed.
    /// </summary>
    private static async Task<string> ProbeAsync(string runDir, string[] targets)
    {
        var probes = string.Join("; ", targets.Select(t => $"probe {t.Replace(':', ' ')}"));
        // The listener starts first: the DHCP exchange gives it time to bind. udhcpc only reports
        // the lease (-s /bin/true); the address is set by hand, the same one slirp hands out.
        var line =
            "nc -l -p 7777 -e /bin/true & ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 -s /bin/true 2>&1; " +
            "ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2; " +
            "probe() { nc -w 3 $1 $2 -e /bin/true && echo probe-$1:$2-open || echo probe-$1:$2-shut; }; " +
            $"{probes}; echo done-\"probes\"";
        // Read from the socket, not serial.log: the log was seen to repeat single characters
        // ("Connectioon") after a client left, which a target's digits must not suffer. The typed
        // line echoes done-"probes" with its quotes: only the shell's output ends the wait.
        var seen = await GuestSerial.RunAsync(runDir, line, until: "done-probes", within: TimeSpan.FromSeconds(90));
        Assert.True(seen.Contains("done-probes"), $"The probes did not finish within 90 s; the port printed:\n{seen}");
        return seen;
    }

    private static string? Outcome(string log, string target) =>
        Regex.Match(log, $@"probe-{Regex.Escape(target)}-(open|shut)") is { Success: true } m ? m.Groups[1].Value : null;
}
