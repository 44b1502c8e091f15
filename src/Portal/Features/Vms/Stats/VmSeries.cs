using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// One moment of a VM's use: what its QEMU held at <see cref="At"/>, and its rates over the interval
/// that ended then (per second). Figures its host does not give (no balloon, no NIC on a tenant
/// network, a QEMU that did not answer for its I/O) are NaN. Kept small (56 bytes): an hour of
/// them for 1,000 VMs is about 40 MB per portal process.
/// </summary>
public readonly record struct VmSample(
    long AtMs, float CpuCores, float RssBytes, float BalloonBytes,
    float DiskReadBytes, float DiskWriteBytes, float DiskReadOps, float DiskWriteOps,
    float NetReceivedBytes, float NetSentBytes, float NetReceivedPackets, float NetSentPackets)
{
    public DateTimeOffset At => DateTimeOffset.FromUnixTimeMilliseconds(AtMs);
}

/// <summary>
/// A VM's last hour of samples at its host's reporting interval (5 s: <see cref="Capacity"/> of
/// them), made from the counters of consecutive usage reports. A report no newer than the last one
/// adds nothing (the same report read twice); a counter that went back (a new QEMU) gives no rate
/// for that interval rather than a wrong one. Safe to read while a report is added.
/// </summary>
public sealed class VmSeries
{
    /// <summary>An hour at 5 s.</summary>
    public const int Capacity = 720;

    public static readonly TimeSpan Span = TimeSpan.FromHours(1);

    private readonly VmSample[] _ring = new VmSample[Capacity];
    private int _next;
    private int _count;
    private (DateTimeOffset At, double CpuSeconds)? _cpu;
    private (DateTimeOffset At, VmIo Io)? _io;
    private readonly Lock _lock = new();

    /// <summary>When the newest report this series has seen was made; null before the first.</summary>
    public DateTimeOffset? LastReport { get; private set; }

    /// <summary>Adds what the report made at <paramref name="at"/> says of the VM; whether a sample was added (not for the first report, which is only a baseline).</summary>
    /// <summary>What the VM's guest agent said in the newest report; null for a VM without one.</summary>
    public GuestReport? Guest { get; private set; }

    public bool Add(DateTimeOffset at, VmUsage usage)
    {
        lock (_lock)
        {
            if (LastReport is { } last && at <= last)
                return false;
            LastReport = at;
            Guest = usage.Guest;
            var cpu = _cpu is { } c ? Rate(usage.CpuSeconds, c.CpuSeconds, at - c.At) : float.NaN;
            _cpu = (at, usage.CpuSeconds);
            var io = usage.Io is { } now && _io is { } before ? Rates(now, before.Io, at - before.At) : Rates(null, null, TimeSpan.Zero);
            if (usage.Io is not null)
                _io = (at, usage.Io);
            if (float.IsNaN(cpu))
                return false;
            _ring[_next] = new VmSample(at.ToUnixTimeMilliseconds(), cpu, usage.RssBytes, usage.Io?.BalloonBytes ?? float.NaN,
                io[0], io[1], io[2], io[3], io[4], io[5], io[6], io[7]);
            _next = (_next + 1) % Capacity;
            _count = Math.Min(_count + 1, Capacity);
            return true;
        }
    }

    /// <summary>The samples taken after <paramref name="from"/>, oldest first.</summary>
    public IReadOnlyList<VmSample> Since(DateTimeOffset from)
    {
        var after = from.ToUnixTimeMilliseconds();
        lock (_lock)
        {
            var samples = new List<VmSample>(_count);
            for (var i = 0; i < _count; i++)
            {
                var sample = _ring[(_next - _count + i + Capacity) % Capacity];
                if (sample.AtMs > after)
                    samples.Add(sample);
            }

            return samples;
        }
    }

    /// <summary>The newest sample, if any.</summary>
    public VmSample? Latest
    {
        get
        {
            lock (_lock)
                return _count == 0 ? null : _ring[(_next - 1 + Capacity) % Capacity];
        }
    }

    private static float Rate(double now, double before, TimeSpan over) =>
        over > TimeSpan.Zero && now >= before ? (float)((now - before) / over.TotalSeconds) : float.NaN;

    private static float Rate(long? now, long? before, TimeSpan over) =>
        now is { } n && before is { } b ? Rate(n, (double)b, over) : float.NaN;

    /// <summary>Disk bytes and operations read and written, NIC bytes and packets received and sent, per second; NaN where either end lacks the counter.</summary>
    private static float[] Rates(VmIo? now, VmIo? before, TimeSpan over) =>
    [
        Rate(now?.DiskReadBytes, before?.DiskReadBytes, over), Rate(now?.DiskWriteBytes, before?.DiskWriteBytes, over),
        Rate(now?.DiskReadOperations, before?.DiskReadOperations, over), Rate(now?.DiskWriteOperations, before?.DiskWriteOperations, over),
        Rate(now?.NetReceivedBytes, before?.NetReceivedBytes, over), Rate(now?.NetSentBytes, before?.NetSentBytes, over),
        Rate(now?.NetReceivedPackets, before?.NetReceivedPackets, over), Rate(now?.NetSentPackets, before?.NetSentPackets, over),
    ];
}
