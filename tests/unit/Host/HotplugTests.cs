using System.Text.Json;
using Paddock.Host.Vms;

namespace Paddock.Unit.Host;

public sealed class HotplugTests
{
    [Fact]
    public void Only_root_ports_with_nothing_behind_them_are_free()
    {
        // query-pci of a q35 VM with disk0 in rp0, net0 in rp1 and a hot-added disk in rp7 (QEMU 7.2).
        var reply = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Host", "query-pci-rp0-rp1-rp7-taken.json"))).RootElement;

        Assert.Equal(["rp2", "rp3", "rp4", "rp5", "rp6"], Hotplug.FreeRootPorts(reply));
    }
}
