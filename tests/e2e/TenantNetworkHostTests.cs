using System.Net;
using System.Net.Sockets;
using Paddock.Engine.Networks;
using Paddock.Testing;
using static Paddock.E2e.GuestShell;

namespace Paddock.E2e;

/// <summary>
/// It boots guests and changes the kernel's networking under prefixes, VXLAN ports and a directory
/// of its own, without the portal: beside the fixture's tests, not after them.
/// </summary>
[CollectionDefinition(Name)]
public sealed class NetworkHostTestGroup
{
    public const string Name = "network host";
}

/// <summary>
/// The host side of tenant networks with real kernel networking and real QEMU, without the portal:
/// two "hosts" on this machine (prefixes pz and py, VXLAN ports 4799 and 4798 on 127.0.0.1) carry
/// network A; host pz also carries network B, another tenant's, with the same CIDR and NAT.
/// </summary>
[Collection(NetworkHostTestGroup.Name)]
public sealed partial class TenantNetworkHostTests
{
    private static readonly string Data = Environment.GetEnvironmentVariable("PADDOCK_TEST_DATA") ?? "/var/lib/paddock/test";
    private static readonly VxlanEndpoint Pz = new("127.0.0.1", 4799), Py = new("127.0.0.1", 4798);
    private static readonly NetworkSpec A = new(Guid.NewGuid(), 0x7a01, "10.250.0.0/24", "10.250.0.1", Nat: false);
    private static readonly NetworkSpec B = new(Guid.NewGuid(), 0x7a02, "10.250.0.0/24", "10.250.0.1", Nat: true);

    [Fact]
    public async Task Guests_on_one_network_lease_ping_resolve_and_fetch_and_nothing_else_gets_through()
    {
        var root = Path.Combine(Data, "network-host-tests");
        await using var pz = new NetworkHostHarness(root, "pz", Pz.Port);
        await using var py = new NetworkHostHarness(root, "py", Py.Port);
        NetworkMember a1 = new("a1", "52:54:00:7a:00:11", "10.250.0.11"), a2 = new("a2", "52:54:00:7a:00:12", "10.250.0.12");
        NetworkMember c1 = new("c1", "52:54:00:7a:00:13", "10.250.0.13"), b1 = new("b1", "52:54:00:7b:00:11", "10.250.0.11");
        await pz.Keeper.ApplyAsync([new(A, [a1, a2, c1], [Pz, Py]), new(B, [b1], [])], CancellationToken.None);
        await py.Keeper.ApplyAsync([new(A, [a1, a2, c1], [Pz, Py])], CancellationToken.None);

        var images = Path.Combine(Data, "images");
        var vmA1 = await pz.StartVmAsync(images, 3100001, A, a1.Mac, a1.Address);
        var vmA2 = await pz.StartVmAsync(images, 3100002, A, a2.Mac, a2.Address);
        var vmB1 = await pz.StartVmAsync(images, 3100003, B, b1.Mac, b1.Address);
        var vmC1 = await py.StartVmAsync(images, 3100004, A, c1.Mac, c1.Address);
        foreach (var vm in new[] { vmA1, vmA2, vmB1, vmC1 })
            await GuestSerial.WaitForShellAsync(vm);

        // DHCP: each guest gets exactly its reserved address from its own host's gateway.
        Says("lease of 10.250.0.11 obtained", await LeaseAsync(vmA1, a1.Address));
        Says("lease of 10.250.0.12 obtained", await LeaseAsync(vmA2, a2.Address));
        Says("lease of 10.250.0.13 obtained", await LeaseAsync(vmC1, c1.Address));
        Says("lease of 10.250.0.11 obtained", await LeaseAsync(vmB1, b1.Address, route: true));
        await GuestSerial.RunAsync(vmA2, "mkdir -p /tmp/www; echo page-of-a2 > /tmp/www/index.html; httpd -p 80 -h /tmp/www; echo done-\"httpd\"", until: "done-httpd");

        // Same network, same host and across the VXLAN: by address, by name, a page.
        Assert.Equal(2, Received(await RunAsync(vmA1, "ping -c 2 -W 3 10.250.0.12")));
        Assert.Equal(2, Received(await RunAsync(vmA1, "ping -c 2 -W 3 a2")));
        Says("10.250.0.12", await RunAsync(vmA1, "(nslookup a2 10.250.0.1)"));
        Says("page-of-a2", await RunAsync(vmA1, Fetch("10.250.0.12")));
        Assert.Equal(2, Received(await RunAsync(vmC1, "ping -c 2 -W 3 a1")));
        Says("page-of-a2", await RunAsync(vmC1, Fetch("10.250.0.12")));

        // Another tenant's network with the same CIDR reaches neither.
        Assert.Equal(0, Received(await RunAsync(vmB1, "ping -c 2 -W 2 10.250.0.12")));
        Says("page-of-a2", await RunAsync(vmB1, Fetch("10.250.0.12")), not: true);

        await NoHostServiceAsync(vmA1, vmB1);
        await SpoofingGetsNothingAsync(vmA1);

        // A restarted agent makes everything again from what exists: nothing doubled, guests still talk.
        var before = await pz.InventoryAsync();
        pz.Restart();
        await pz.Keeper.ReconcileAsync(CancellationToken.None);
        await pz.Keeper.ReconcileAsync(CancellationToken.None);
        Assert.Equal(before, await pz.InventoryAsync());
        Assert.Equal(2, Received(await RunAsync(vmC1, "ping -c 2 -W 3 10.250.0.12")));

        // The last VM gone and the network no longer listed: nothing of it stays on the host.
        await pz.StopVmsAsync();
        await pz.Keeper.ApplyAsync([], CancellationToken.None);
        Assert.Equal("", await pz.InventoryAsync());
    }

    /// <summary>
    /// A listener on every host address (the portal's or PostgreSQL's could be there): no guest
    /// connects, neither on a network without NAT nor through NAT, nor to the gateway's other ports.
    /// </summary>
    private static Task NoHostServiceAsync(params string[] guests) =>
        NoHostServiceAsync(["10.250.0.1", Ipv4.Format(NetworkLayout.Of(B, new NetworkNames("pz")).Transit.Network + 1)], guests);

    /// <summary>The same listener test against every host address and <paramref name="extraTargets"/>.</summary>
    private static async Task NoHostServiceAsync(IEnumerable<string> extraTargets, params string[] guests)
    {
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var targets = Ipv4.HostAddresses().Where(a => a >> 24 != 127).Select(Ipv4.Format).Concat(extraTargets).ToList();
        foreach (var guest in guests)
        {
            // All at once (a dropped probe waits out its 3 s); each says which target it tried.
            var said = await RunAsync(guest,
                $"for t in {string.Join(' ', targets)}; do (nc -w 3 $t {port} -e /bin/true && echo probe-$t-open || echo probe-$t-shut) & done; wait");
            Assert.All(targets, target => Assert.True(said.Contains($"probe-{target}-shut"), $"A guest connected to {target}:{port} on the host, or said nothing of it: {said}"));
        }
    }

    /// <summary>A guest that takes another address, then another MAC, gets nothing through; back to its own, it does again.</summary>
    private static async Task SpoofingGetsNothingAsync(string guest)
    {
        await RunAsync(guest, "ip addr flush dev eth0; ip addr add 10.250.0.50/24 dev eth0");
        Assert.Equal(0, Received(await RunAsync(guest, "ping -c 2 -W 2 10.250.0.12")));
        await RunAsync(guest, "ip addr flush dev eth0; ip addr add 10.250.0.11/24 dev eth0; ip link set eth0 down; ip link set eth0 address 52:54:00:7a:00:99; ip link set eth0 up");
        Assert.Equal(0, Received(await RunAsync(guest, "ping -c 2 -W 2 10.250.0.12")));
        await RunAsync(guest, "ip link set eth0 down; ip link set eth0 address 52:54:00:7a:00:11; ip link set eth0 up");
        // The link comes up again and the neighbour is asked anew: under load the first pings may go unanswered (seen in CI).
        await Eventually.Async(async () => Received(await RunAsync(guest, "ping -c 2 -W 3 10.250.0.12")) > 0, TimeSpan.FromSeconds(45),
            "pings answered once the guest is back on its own address and MAC");
    }

    private static Task<string> LeaseAsync(string guest, string address, bool route = false) =>
        GuestShell.LeaseAsync(guest, address, 24, "10.250.0.1", route);
}

