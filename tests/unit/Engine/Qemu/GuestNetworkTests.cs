using System.Text.Json;
using Paddock.Engine.Qemu;

namespace Paddock.Unit.Engine.Qemu;

public sealed class GuestNetworkTests
{
    [Fact]
    public void A_hotplugged_nic_gets_the_same_restricted_backend_as_a_cold_plugged_one()
    {
        // netdev_add takes the QAPI Netdev union: restrict is a JSON boolean there, not "on".
        Assert.Equal("""{"type":"user","id":"net1","restrict":true}""", JsonSerializer.Serialize(GuestNetwork.UserNetdevArguments("net1")));
        Assert.Equal("user,id=net1,restrict=on", GuestNetwork.UserNetdev("net1"));
    }
}
