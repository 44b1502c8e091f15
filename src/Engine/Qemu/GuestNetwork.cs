namespace Paddock.Engine.Qemu;

/// <summary>
/// The backend of every guest NIC, cold-plugged (argv) or hotplugged (QMP <c>netdev_add</c>).
/// Guests are hostile: user-mode networking (slirp) would otherwise let a guest reach the host's
/// loopback services through 10.0.2.2 (the portal, PostgreSQL, the agent), link-local metadata
/// addresses and every network the host is on. <c>restrict=on</c> isolates the guest from the host
/// and the outside (QEMU docs, "-netdev user": "the guest will be isolated"); slirp's own DHCP
/// still answers. No forwards are added: until tenant networks exist a guest reaches nothing.
/// </summary>
public static class GuestNetwork
{
    /// <summary>The <c>-netdev</c> value for the NIC whose backend id is <paramref name="id"/>.</summary>
    public static string UserNetdev(string id) => $"user,id={id},restrict=on";

    /// <summary>The same backend as <c>netdev_add</c> arguments.</summary>
    public static Dictionary<string, object> UserNetdevArguments(string id) =>
        new() { ["type"] = "user", ["id"] = id, ["restrict"] = true };

    /// <summary>
    /// A NIC on a tenant network: a tap the agent opened and handed over (getfd <paramref name="fdName"/>).
    /// No vhost: QEMU under its own uid and seccomp opens no /dev/vhost-net of its own.
    /// </summary>
    public static Dictionary<string, object> TapNetdevArguments(string id, string fdName) =>
        new() { ["type"] = "tap", ["id"] = id, ["fd"] = fdName, ["vhost"] = false };
}
