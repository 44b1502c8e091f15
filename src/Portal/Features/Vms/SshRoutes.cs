using System.Net;
using System.Net.Sockets;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Networks;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// How to reach one NIC of a guest over SSH (port 22), as the VM page shows it: the command to type
/// (<see cref="Command"/>, null when there is none) and where it works from (<see cref="Where"/>).
/// </summary>
public sealed record SshRoute(string? Command, string Where);

/// <summary>
/// Works out <see cref="SshRoute"/>s from what the portal knows (the VM's NICs, networks and port
/// forwards) and what the guest agent said (its NICs' addresses, matched by MAC). A tcp forward of
/// port 22 is the way in from outside; a provider network's address is reachable wherever that
/// network is routed; a tenant network's address only from its other VMs.
/// </summary>
public static class SshRoutes
{
    public const int SshPort = 22;

    /// <summary>The route to the Paddock NIC whose MAC <paramref name="guestNic"/> has; null when it is none of the VM's (such as the loopback).</summary>
    public static SshRoute? Of(Vm vm, GuestNic guestNic, IReadOnlyList<ForwardView> forwards)
    {
        var nic = Vm.NicsOf(vm).FirstOrDefault(n => string.Equals(n.Mac, guestNic.Mac, StringComparison.OrdinalIgnoreCase));
        return nic is null ? null : Of(nic, guestNic.Addresses, forwards, vm.CloudInit?.UserName);
    }

    public static SshRoute Of(VmNic nic, IReadOnlyList<string> guestAddresses, IReadOnlyList<ForwardView> forwards, string? user)
    {
        var login = string.IsNullOrEmpty(user) ? "" : user + "@";
        if (nic.Network is not { } on)
        {
            return new(null, "Isolated NIC: no SSH; the console is the way in.");
        }

        if (forwards.FirstOrDefault(f => f.NicId == nic.Id && f.Protocol == "tcp" && f.GuestPort == SshPort) is { } forward)
        {
            // Reach is "host:port" (ForwardRules.Reach): the host is what comes before the port.
            var host = forward.Reach[..forward.Reach.LastIndexOf(':')];
            return new($"ssh -p {forward.HostPort} {login}{host}", "From anywhere that reaches the VM's host, through the port forward of port 22.");
        }

        var address = FirstUsable(guestAddresses) ?? (on.Address.Length > 0 ? on.Address : null);
        if (address is null)
        {
            return new(null, "No address yet.");
        }

        return on.Network.Provider is not null
            ? new($"ssh {login}{address}", "From wherever the provider network is routed.")
            : new($"ssh {login}{address}", on.Network.Nat
                ? "From the VMs on the same network; from outside, add a port forward of port 22 (Port forwards, below)."
                : "From the VMs on the same network only (its NAT is off, so it has no port forwards).");
    }

    /// <summary>The first address (without its prefix length) that is not loopback or link-local, IPv4 before IPv6.</summary>
    private static string? FirstUsable(IReadOnlyList<string> addresses)
    {
        var usable = addresses
            .Select(a => IPAddress.TryParse(a.Split('/')[0], out var ip) ? ip : null)
            .OfType<IPAddress>()
            .Where(ip => !IPAddress.IsLoopback(ip) && !ip.IsIPv6LinkLocal && !(ip.AddressFamily == AddressFamily.InterNetwork && ip.GetAddressBytes() is [169, 254, ..]))
            .OrderBy(ip => ip.AddressFamily == AddressFamily.InterNetwork ? 0 : 1)
            .FirstOrDefault();
        return usable?.ToString();
    }
}
