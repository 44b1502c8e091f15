using Microsoft.Win32.SafeHandles;
using Paddock.Engine.Interop;

namespace Paddock.Engine.Networks;

/// <summary>
/// A tap made for one QEMU: the agent opens it (TUNSETIFF on /dev/net/tun, no packet info, with a
/// virtio-net header), attaches it, and hands the descriptor to QEMU (QMP <c>getfd</c>). It is not
/// persistent: it lives as long as a descriptor does, so it goes with QEMU and survives the agent.
/// </summary>
public static class TapDevice
{
    /// <summary>Opens (creating) the tap <paramref name="name"/>; the caller closes its descriptor once QEMU holds one.</summary>
    /// <exception cref="IOException">The kernel refused (a device of that name that is no free tap, no /dev/net/tun).</exception>
    public static SafeFileHandle Open(string name)
    {
        if (name is not { Length: > 0 and <= 15 } || !name.All(char.IsAsciiLetterOrDigit))
            throw new InvalidNetworkException("Tap", $"'{Ipv4.Printable(name)}' is not a tap name");
        return Libc.OpenTap(name);
    }

    /// <summary>
    /// What went through the tap <paramref name="name"/> so far, seen from its guest (what the host
    /// side transmits, the guest receives); null when no such device is up. Read from sysfs, which
    /// only the kernel writes.
    /// </summary>
    public static TapCounters? Counters(string name)
    {
        if (name is not { Length: > 0 and <= 15 } || !name.All(char.IsAsciiLetterOrDigit))
            throw new InvalidNetworkException("Tap", $"'{Ipv4.Printable(name)}' is not a tap name");
        var dir = $"/sys/class/net/{name}/statistics";
        long Read(string counter) => long.TryParse(File.ReadAllText(Path.Combine(dir, counter)).Trim(), out var n) && n >= 0 ? n : 0;
        try
        {
            return new TapCounters(Read("tx_bytes"), Read("rx_bytes"), Read("tx_packets"), Read("rx_packets"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>A tap's counters from its guest's side: received is what the host sent it.</summary>
public sealed record TapCounters(long ReceivedBytes, long SentBytes, long ReceivedPackets, long SentPackets);
