using Paddock.Engine.Networks;
using Paddock.Host.Networks;
using Paddock.Testing;
using static Paddock.E2e.GuestShell;

namespace Paddock.E2e;

/// <summary>
/// Provider networks with the real kernel and QEMU, no portal: host "py" bridges two veths that stand
/// for host interfaces (pzup0 bare, pzup1 with VLAN 42); their other ends sit in a namespace of the
/// test's (pzout, the outside network) holding 192.0.2.1 and, on a VLAN 42 link, 198.51.100.1.
/// A kernel without 802.1Q (this machine's has none) cannot make VLAN links: then the tagged VM must
/// fail to start with that reason, and only the bare interface carries traffic.
/// </summary>
public sealed partial class TenantNetworkHostTests
{
    private const string Outside = "pzout";
    private static readonly string[] HostInterfaces = ["pzup0", "pzup1"];
    private static readonly NetworkSpec Flat = ProviderOn(0x7a11, "pzup0", null), Tagged = ProviderOn(0x7a12, "pzup1", 42);

    [Fact]
    public async Task Guests_on_provider_networks_reach_the_outside_with_their_own_mac_only_and_never_the_host()
    {
        var root = Path.Combine(Data, "network-host-tests");
        try
        {
            var vlans = await MakeOutsideAsync();
            await using var py = new NetworkHostHarness(root, "py", Py.Port);
            await py.Keeper.ApplyAsync([new(Flat, [], []), new(Tagged, [], [])], CancellationToken.None);
            var images = Path.Combine(Data, "images");
            var flat = await py.StartVmAsync(images, 3100011, Flat, "52:54:00:7a:01:11", "");
            var tagged = vlans ? await py.StartVmAsync(images, 3100012, Tagged, "52:54:00:7a:01:12", "") : null;
            if (!vlans)
                await RefusedAsync(py, images, 3100012, Tagged, "'pzup1' VLAN 42");

            // A host without the interface: the VM does not start, and the reason names the interface.
            await RefusedAsync(py, images, 3100013, ProviderOn(0x7a13, "pzgone0", null), "'pzgone0'");
            await GuestSerial.WaitForShellAsync(flat);
            await RunAsync(flat, "ip link set eth0 up; ip addr add 192.0.2.11/24 dev eth0");
            Assert.Equal(2, Received(await RunAsync(flat, "ping -c 2 -W 3 192.0.2.1")));
            if (tagged is not null)
                await TaggedReachesItsVlanOnlyAsync(flat, tagged);

            // Another MAC gets nothing out; its own again, it does.
            await RunAsync(flat, "ip link set eth0 down; ip link set eth0 address 52:54:00:7a:01:99; ip link set eth0 up");
            Assert.Equal(0, Received(await RunAsync(flat, "ping -c 2 -W 2 192.0.2.1")));
            // Not only no answer (the tap takes frames for its own MAC only): nothing of it reached the outside.
            Assert.DoesNotContain("52:54:00:7a:01:99", await NetworkTools.RunAsync(["ip", "-n", Outside, "neigh", "show"]), StringComparison.Ordinal);
            await RunAsync(flat, "ip link set eth0 down; ip link set eth0 address 52:54:00:7a:01:11; ip link set eth0 up");
            Assert.Equal(2, Received(await RunAsync(flat, "ping -c 2 -W 3 192.0.2.1")));

            // Every host address on the guest's own wire (an on-link default route): no answer, not even ARP.
            await RunAsync(flat, "ip route add default dev eth0");
            await NoHostServiceAsync([], flat);

            // Gone: the bridges and the VLAN link; the host interfaces stay, no one's port.
            await py.StopVmsAsync();
            await py.Keeper.ApplyAsync([], CancellationToken.None);
            Assert.Equal("", await py.InventoryAsync());
            var links = LinkInventory.ParseLinks(await NetworkTools.RunAsync(IpCommands.ListLinks()));
            Assert.All(HostInterfaces, name => Assert.Null(Assert.Single(links, l => l.Name == name).Master));
        }
        finally
        {
            await RemoveOutsideAsync();
        }
    }

    /// <summary>A VM on <paramref name="network"/> does not start here: the reason says <paramref name="why"/>.</summary>
    private static async Task RefusedAsync(NetworkHostHarness host, string images, int uid, NetworkSpec network, string why)
    {
        var refused = await Assert.ThrowsAsync<ProviderLinkException>(() => host.StartVmAsync(images, uid, network, $"52:54:00:7a:02:{uid % 100:x2}", ""));
        Assert.Contains(why, refused.Message, StringComparison.Ordinal);
    }

    /// <summary>The tagged guest reaches the outside's VLAN 42; the bare one, given an address there, reaches neither (no path between the two through the host).</summary>
    private static async Task TaggedReachesItsVlanOnlyAsync(string flat, string tagged)
    {
        await GuestSerial.WaitForShellAsync(tagged);
        await RunAsync(tagged, "ip link set eth0 up; ip addr add 198.51.100.12/24 dev eth0");
        Assert.Equal(2, Received(await RunAsync(tagged, "ping -c 2 -W 3 198.51.100.1")));
        await RunAsync(flat, "ip addr add 198.51.100.13/24 dev eth0");
        Assert.Equal(0, Received(await RunAsync(flat, "ping -c 2 -W 2 198.51.100.12")));
        await RunAsync(flat, "ip addr del 198.51.100.13/24 dev eth0");
        await RunAsync(tagged, "ip route add default dev eth0");
        await NoHostServiceAsync([], tagged);
    }

    private static NetworkSpec ProviderOn(int vni, string hostInterface, int? vlan) =>
        new(Guid.NewGuid(), vni, "", "", Nat: false) { Provider = new ProviderLink(hostInterface, vlan) };

    /// <summary>
    /// The outside network; the root ends make no IPv6 address (the host's address list stays as it
    /// was). True when the kernel makes VLAN links (then the outside has its VLAN 42).
    /// </summary>
    private static async Task<bool> MakeOutsideAsync()
    {
        await RemoveOutsideAsync();
        string[][] commands =
        [
            ["ip", "netns", "add", Outside],
            ["ip", "link", "add", "pzup0", "type", "veth", "peer", "name", "pzo0", "netns", Outside],
            ["ip", "link", "add", "pzup1", "type", "veth", "peer", "name", "pzo1", "netns", Outside],
            ["ip", "link", "set", "pzup0", "addrgenmode", "none"],
            ["ip", "link", "set", "pzup1", "addrgenmode", "none"],
            ["ip", "-n", Outside, "addr", "add", "192.0.2.1/24", "dev", "pzo0"],
            ["ip", "-n", Outside, "link", "set", "pzo0", "up"],
            ["ip", "-n", Outside, "link", "set", "pzo1", "up"],
        ];
        await NetworkTools.RunAllAsync(commands, CancellationToken.None);
        try
        {
            await NetworkTools.RunAsync(["ip", "-n", Outside, "link", "add", "link", "pzo1", "name", "pzo1.42", "type", "vlan", "id", "42"]);
        }
        catch (NetworkCommandException e) when (e.Message.Contains("Unknown device type", StringComparison.Ordinal))
        {
            return false;
        }

        await NetworkTools.RunAsync(["ip", "-n", Outside, "addr", "add", "198.51.100.1/24", "dev", "pzo1.42"]);
        await NetworkTools.RunAsync(["ip", "-n", Outside, "link", "set", "pzo1.42", "up"]);
        return true;
    }

    /// <summary>A veth goes with its pair; then the namespace.</summary>
    private static async Task RemoveOutsideAsync()
    {
        foreach (var link in HostInterfaces.Where(l => Directory.Exists($"/sys/class/net/{l}")))
            await NetworkTools.RunAsync(["ip", "link", "del", link]);
        if (File.Exists($"/run/netns/{Outside}"))
            await NetworkTools.RunAsync(["ip", "netns", "del", Outside]);
    }
}
