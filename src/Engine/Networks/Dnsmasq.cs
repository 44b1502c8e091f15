using System.Globalization;
using System.Text;

namespace Paddock.Engine.Networks;

/// <summary>Where one network's dnsmasq keeps its files: a directory of the agent's (root, 0755; no VM uid writes there).</summary>
public sealed record DnsmasqFiles(string Directory)
{
    public string Config => Path.Combine(Directory, "dnsmasq.conf");

    /// <summary>dhcp-host lines (MAC, address, name), re-read on SIGHUP.</summary>
    public string DhcpHosts => Path.Combine(Directory, "dhcp-hosts");

    /// <summary>The members' names for DNS (hosts format), re-read on SIGHUP.</summary>
    public string Names => Path.Combine(Directory, "hosts");

    public string PidFile => Path.Combine(Directory, "dnsmasq.pid");
}

/// <summary>
/// One dnsmasq per network, in the network's namespace: DHCP with static reservations only (an
/// unknown MAC gets nothing), DNS for the members' names, authoritative, bound to the gateway's
/// interface, reading neither /etc/hosts nor (unless the network has NAT) resolv.conf. Pure text
/// and argv; every value in them was checked (<see cref="NetworkChecks"/>).
/// </summary>
public static class Dnsmasq
{
    public static string Config(NetworkLayout network, DnsmasqFiles files)
    {
        var text = new StringBuilder();
        void Line(FormattableString line) => text.Append(line.ToString(CultureInfo.InvariantCulture)).Append('\n');
        Line($"interface={NetworkNames.GatewayInside}");
        Line($"bind-interfaces");
        Line($"except-interface=lo");
        Line($"no-hosts");
        Line($"addn-hosts={files.Names}");
        if (!network.Nat)
            Line($"no-resolv");
        Line($"domain-needed");
        Line($"bogus-priv");
        Line($"dhcp-authoritative");
        // "static": addresses only from dhcp-host lines; and a client that is not in them is ignored.
        Line($"dhcp-range={Ipv4.Format(network.Cidr.Network)},static,{Ipv4.Format(network.Cidr.Mask)},1h");
        Line($"dhcp-ignore=tag:!known");
        Line($"dhcp-hostsfile={files.DhcpHosts}");
        Line($"dhcp-option=option:dns-server,{Ipv4.Format(network.Gateway)}");
        // Without NAT there is nowhere to route to: no default route for the guests.
        Line($"dhcp-option=option:router{(network.Nat ? "," + Ipv4.Format(network.Gateway) : "")}");
        Line($"leasefile-ro");
        Line($"pid-file={files.PidFile}");
        // Guests are hostile: dnsmasq answers them as nobody, not as root.
        Line($"user=nobody");
        Line($"group=nogroup");
        return text.ToString();
    }

    /// <summary>One <c>dhcp-host=MAC,address[,name]</c> line per member.</summary>
    public static string DhcpHosts(IReadOnlyList<NetworkMember> members) =>
        string.Concat(members.Select(m =>
            $"{m.Mac.ToLowerInvariant()},{m.Address}{(string.IsNullOrEmpty(m.Name) ? "" : "," + m.Name.ToLowerInvariant())}\n"));

    /// <summary>The members' names for DNS; a member without a name has none.</summary>
    public static string Names(IReadOnlyList<NetworkMember> members) =>
        string.Concat(members.Where(m => !string.IsNullOrEmpty(m.Name)).Select(m => $"{m.Address} {m.Name.ToLowerInvariant()}\n"));

    /// <summary>Runs in the network's namespace and daemonizes: it outlives the agent, as the VMs do.</summary>
    public static IReadOnlyList<string> Start(NetworkLayout network, DnsmasqFiles files) =>
        ["ip", "netns", "exec", network.Namespace, "dnsmasq", $"--conf-file={files.Config}"];

    /// <summary>The pid of the dnsmasq serving <paramref name="files"/>, when one runs (its pidfile, confirmed by its command line).</summary>
    public static int? RunningPid(DnsmasqFiles files)
    {
        try
        {
            if (!int.TryParse(File.ReadAllText(files.PidFile).Trim(), out var pid) || pid <= 1)
                return null;
            // A zombie's command line is empty: it no longer serves.
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return cmdline.Length > 0 && Path.GetFileName(cmdline[0]) == "dnsmasq" && cmdline.Contains($"--conf-file={files.Config}") ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>SIGHUP: dnsmasq reads its dhcp-hostsfile and addn-hosts again (dnsmasq(8), "NOTES").</summary>
    public static void Reload(int pid) => Interop.Libc.Kill(pid, SIGHUP);

    public static void Stop(int pid) => Interop.Libc.Kill(pid, Interop.Libc.SIGTERM);

    private const int SIGHUP = 1;
}
