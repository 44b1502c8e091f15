using Paddock.Engine.Networks;

namespace Paddock.Host.Networks;

/// <summary>A provider network this host cannot carry: its host interface is missing, holds addresses, or belongs to something else.</summary>
public sealed class ProviderLinkException(string message) : Exception(message);

/// <summary>
/// Lays out a provider network: its bridge and, with a tag, the VLAN link on the host interface,
/// enslaved to it. The host interface itself is only taken when that cuts nothing off: it must
/// exist, hold no address (IPv6 link-local aside) unless a VLAN is used, and be no other device's port.
/// </summary>
public static class ProviderLinks
{
    public static async Task EnsureAsync(NetworkLayout n, IReadOnlyList<Link> links, CancellationToken ct)
    {
        var provider = n.Provider!;
        var host = links.FirstOrDefault(l => l.Name == provider.Interface)
            ?? throw new ProviderLinkException($"Host interface '{provider.Interface}' of provider network {n.Vni} does not exist on this host.");
        if (provider.Vlan is null)
        {
            if (host.Master is { } master && master != n.Bridge)
                throw new ProviderLinkException($"Host interface '{provider.Interface}' is already a port of '{master}'; it cannot carry provider network {n.Vni}.");
            var addresses = LinkInventory.ParseAddresses(await NetworkTools.RunAsync(IpCommands.ListAddresses(provider.Interface), ct: ct));
            if (addresses.Count > 0)
            {
                throw new ProviderLinkException(
                    $"Host interface '{provider.Interface}' holds {string.Join(", ", addresses)}: taking it into a bridge would cut the host off it. Use a VLAN or an interface without addresses.");
            }
        }

        if (!links.Any(l => l.Name == n.Bridge))
            await NetworkTools.RunAsync(IpCommands.CreateBridge(n), ct: ct);
        try
        {
            if (provider.Vlan is { } tag && !links.Any(l => l.Name == n.Vlan))
                await NetworkTools.RunAsync(IpCommands.CreateVlan(n), ct: ct);
            await NetworkTools.RunAllAsync(IpCommands.ConfigureProvider(n), ct);
        }
        catch (NetworkCommandException e)
        {
            // A kernel without 802.1Q ("Unknown device type"), an interface that will not come up: this network's alone.
            throw new ProviderLinkException($"Host interface '{provider.Interface}'{(provider.Vlan is { } tag ? $" VLAN {tag}" : "")} cannot carry provider network {n.Vni} here: {e.Message}");
        }
    }
}
