using Paddock.Engine.Vms;

namespace Paddock.Engine.Qemu;

/// <summary>
/// Which PCIe root port each disk, NIC and the balloon sits in. A saved state or a live migration
/// only loads into a QEMU whose devices sit where they sat when it was taken, and a hotplugged
/// device goes wherever a root port was free. So the agent records every device's port in the
/// spec: at each launch for those that have none yet, at each hotplug for the new one. A device
/// without a port takes the cold layout's place (disks, then NICs, then the balloon, each in the
/// next port), skipping the ports recorded devices hold; with none recorded that is the layout a
/// cold boot always had, so a spec from before ports were kept lays out as it did.
/// </summary>
public static class DeviceLayout
{
    /// <summary>The spec with a port for every disk, NIC and the balloon.</summary>
    public static VmSpec WithPorts(VmSpec spec)
    {
        var taken = spec.Disks.Select(d => d.Port).Concat(spec.Nics.Select(n => n.Port)).Append(spec.BalloonPort)
            .OfType<string>().ToHashSet(StringComparer.Ordinal);
        var next = 0;
        string Next()
        {
            while (taken.Contains(RootPort(next)))
                next++;
            return RootPort(next++);
        }

        var disks = spec.Disks.Select(d => d.Port is null ? d with { Port = Next() } : d).ToList();
        var nics = spec.Nics.Select(n => n.Port is null ? n with { Port = Next() } : n).ToList();
        return spec with { Disks = disks, Nics = nics, BalloonPort = spec.BalloonPort ?? Next() };
    }

    /// <summary>
    /// <paramref name="wanted"/> (a spec the portal sent) with the ports this host recorded in
    /// <paramref name="current"/> for the devices both have, by id, and the balloon's: the host's own
    /// record wins, the portal's (what the host last reported) fills in the rest.
    /// </summary>
    public static VmSpec Carry(VmSpec? current, VmSpec wanted) =>
        current is null ? wanted : WithRecorded(wanted, PortsOf(current), overriding: true);

    /// <summary>The recorded ports, by <c>disk:ID</c>, <c>nic:ID</c> and <c>balloon</c>, as a host reports them.</summary>
    public static IReadOnlyDictionary<string, string> PortsOf(VmSpec spec) =>
        spec.Disks.Where(d => d.Port is not null).Select(d => ($"disk:{d.Id}", d.Port!))
            .Concat(spec.Nics.Where(n => n.Port is not null).Select(n => ($"nic:{n.Id}", n.Port!)))
            .Concat(spec.BalloonPort is { } balloon ? [("balloon", balloon)] : [])
            .ToDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal);

    /// <summary>The spec with <paramref name="ports"/> (see <see cref="PortsOf"/>) for its devices: where a device has one already, that one stays unless <paramref name="overriding"/>.</summary>
    public static VmSpec WithRecorded(VmSpec spec, IReadOnlyDictionary<string, string>? ports, bool overriding = false)
    {
        if (ports is null || ports.Count == 0)
            return spec;
        string? Pick(string key, string? had) => overriding ? ports.GetValueOrDefault(key) ?? had : had ?? ports.GetValueOrDefault(key);
        return spec with
        {
            Disks = [.. spec.Disks.Select(d => d with { Port = Pick($"disk:{d.Id}", d.Port) })],
            Nics = [.. spec.Nics.Select(n => n with { Port = Pick($"nic:{n.Id}", n.Port) })],
            BalloonPort = Pick("balloon", spec.BalloonPort),
        };
    }

    /// <summary>The root port <c>rpN</c>'s id, as the command line makes them.</summary>
    public static string RootPort(int index) => $"rp{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}
