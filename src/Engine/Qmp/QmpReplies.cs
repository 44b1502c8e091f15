using System.Text.Json;

namespace Paddock.Engine.Qmp;

/// <summary>query-status: QEMU's run state (running, paused, prelaunch, suspended, shutdown, ...).</summary>
public sealed record QmpRunStatus(string? Status)
{
    public static QmpRunStatus From(JsonElement reply) =>
        new(reply.TryGetProperty("status", out var status) ? status.GetString() : null);

    /// <summary>
    /// What the VM is, seen by an agent that finds this QEMU (a start, or a re-attach after a
    /// restart): its vCPUs run, or QEMU is shutting down, or they stand still for whatever reason
    /// (paused, a save or migration that finished or was cut short: postmigrate, finish-migrate, an
    /// I/O or internal error, a panicked guest). A migration's destination that waits for its
    /// memory (inmigrate) counts as running, as its agent takes it.
    /// </summary>
    /// <summary>QEMU waits for (or is loading) an incoming state: a restore or a migration that has not ended.</summary>
    public bool AwaitsIncoming => Status == "inmigrate";

    /// <summary>Started with its vCPUs held (<c>-S</c>) and never let go: its guest has not run yet.</summary>
    public bool NeverRan => Status == "prelaunch";

    /// <summary>Its state was all sent away (a save or an outgoing migration ended) and its vCPUs stand still for good.</summary>
    public bool SentAway => Status == "postmigrate";

    public Contract.VmPowerState PowerState => Status switch
    {
        "running" or "inmigrate" or null => Contract.VmPowerState.Running,
        "shutdown" => Contract.VmPowerState.ShuttingDown,
        _ => Contract.VmPowerState.Paused,
    };
}

/// <summary>
/// query-migrate: where a migration (or a save, or a restore) stands, and why it failed; QEMU's own
/// figures in milliseconds where it gives them (<see cref="TotalTimeMs"/> and <see cref="SetupTimeMs"/>
/// once active, <see cref="ExpectedDowntimeMs"/> while active, <see cref="DowntimeMs"/> once completed).
/// </summary>
public sealed record QmpMigration(string? Status, string? ErrorDesc)
{
    public bool Completed => Status == "completed";

    public bool Failed => Status is "failed" or "cancelled";

    public long? TotalTimeMs { get; init; }

    public long? SetupTimeMs { get; init; }

    public long? ExpectedDowntimeMs { get; init; }

    public long? DowntimeMs { get; init; }

    /// <summary>The RAM stream's counters; null before the migration has started.</summary>
    public QmpMigrationRam? Ram { get; init; }

    public static QmpMigration From(JsonElement reply) => new(
        reply.TryGetProperty("status", out var status) ? status.GetString() : null,
        reply.TryGetProperty("error-desc", out var error) ? error.GetString() : null)
    {
        TotalTimeMs = QmpMember.Int64(reply, "total-time"),
        SetupTimeMs = QmpMember.Int64(reply, "setup-time"),
        ExpectedDowntimeMs = QmpMember.Int64(reply, "expected-downtime"),
        DowntimeMs = QmpMember.Int64(reply, "downtime"),
        Ram = reply.TryGetProperty("ram", out var ram) ? QmpMigrationRam.From(ram) : null,
    };
}

/// <summary>
/// query-migrate's <c>ram</c>: bytes sent so far, still to send and in all, and how fast the guest
/// dirties its memory (<c>dirty-pages-rate</c>, pages per second, times <c>page-size</c>).
/// </summary>
public sealed record QmpMigrationRam(long Transferred, long Remaining, long Total, long DirtyPagesRate, long PageSize)
{
    public long DirtyBytesPerSecond => DirtyPagesRate * PageSize;

    public static QmpMigrationRam From(JsonElement ram) => new(
        QmpMember.Int64(ram, "transferred") ?? 0,
        QmpMember.Int64(ram, "remaining") ?? 0,
        QmpMember.Int64(ram, "total") ?? 0,
        QmpMember.Int64(ram, "dirty-pages-rate") ?? 0,
        QmpMember.Int64(ram, "page-size") ?? 4096);
}

/// <summary>
/// One entry of query-block-jobs: job <see cref="Device"/> (its id), how far it is
/// (<see cref="Offset"/> of <see cref="Len"/> bytes; both move while the guest writes), whether a mirror
/// is <see cref="Ready"/> (in step with its source), its job status, and its error once it failed.
/// </summary>
public sealed record QmpBlockJob(string Device, string? Type, long Offset, long Len, bool Ready, string? Status, string? Error)
{
    public bool Concluded => Status == "concluded";

    public static IReadOnlyList<QmpBlockJob> ListFrom(JsonElement reply) =>
        [.. reply.EnumerateArray().Select(j => new QmpBlockJob(
            j.GetProperty("device").GetString()!,
            j.TryGetProperty("type", out var type) ? type.GetString() : null,
            QmpMember.Int64(j, "offset") ?? 0,
            QmpMember.Int64(j, "len") ?? 0,
            j.TryGetProperty("ready", out var ready) && ready.GetBoolean(),
            j.TryGetProperty("status", out var status) ? status.GetString() : null,
            j.TryGetProperty("error", out var error) ? error.GetString() : null))];
}

/// <summary>One entry of query-jobs; <see cref="Error"/> is set when a concluded job failed.</summary>
public sealed record QmpJob(string? Id, string? Status, string? Error)
{
    public bool Concluded => Status == "concluded";

    public static IReadOnlyList<QmpJob> ListFrom(JsonElement reply) =>
        [.. reply.EnumerateArray().Select(j => new QmpJob(
            j.GetProperty("id").GetString(),
            j.GetProperty("status").GetString(),
            j.TryGetProperty("error", out var error) ? error.GetString() : null))];
}

/// <summary>One entry of query-block: the device's QOM path, and its IOPS limit when a medium is inserted.</summary>
public sealed record QmpBlock(string? Qdev, long? Iops)
{
    public static IReadOnlyList<QmpBlock> ListFrom(JsonElement reply) =>
        [.. reply.EnumerateArray().Select(b => new QmpBlock(
            b.TryGetProperty("qdev", out var qdev) ? qdev.GetString() : null,
            b.TryGetProperty("inserted", out var inserted) && inserted.TryGetProperty("iops", out var iops) ? iops.GetInt64() : null))];
}

/// <summary>
/// A device on one of query-pci's root buses: its qdev id, and for a bridge (a PCIe root port among
/// them) how many devices sit behind it; <see cref="DevicesBehind"/> is null for a device that is no bridge.
/// <see cref="Behind"/> names the qdev ids of those devices.
/// </summary>
public sealed record QmpPciDevice(string? QdevId, int? DevicesBehind)
{
    public IReadOnlyList<string> Behind { get; init; } = [];

    public static IReadOnlyList<QmpPciDevice> ListFrom(JsonElement reply) =>
        [.. reply.EnumerateArray()
            .SelectMany(bus => bus.GetProperty("devices").EnumerateArray())
            .Select(d => new QmpPciDevice(
                d.TryGetProperty("qdev_id", out var id) ? id.GetString() : null,
                d.TryGetProperty("pci_bridge", out var bridge)
                    ? bridge.TryGetProperty("devices", out var behind) ? behind.GetArrayLength() : 0
                    : null)
            {
                Behind = d.TryGetProperty("pci_bridge", out var b) && b.TryGetProperty("devices", out var list)
                    ? [.. list.EnumerateArray().Select(x => x.TryGetProperty("qdev_id", out var q) ? q.GetString() : null).OfType<string>()]
                    : [],
            })];
}

/// <summary>One entry of query-hotpluggable-cpus: the CPU type, its topology properties, and its QOM path once a vCPU fills it.</summary>
public sealed record QmpCpuSlot(string Type, IReadOnlyDictionary<string, int> Props, string? QomPath)
{
    public int Prop(string name) => Props.TryGetValue(name, out var value) ? value : 0;

    public static IReadOnlyList<QmpCpuSlot> ListFrom(JsonElement reply) =>
        [.. reply.EnumerateArray().Select(c => new QmpCpuSlot(
            c.GetProperty("type").GetString()!,
            c.GetProperty("props").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()),
            c.TryGetProperty("qom-path", out var path) ? path.GetString() : null))];
}

/// <summary>Reading optional members of a reply.</summary>
internal static class QmpMember
{
    /// <summary>Member <paramref name="name"/> of <paramref name="value"/> when it is a number; null when absent.</summary>
    public static long? Int64(JsonElement value, string name) =>
        value.TryGetProperty(name, out var member) && member.ValueKind == JsonValueKind.Number ? member.GetInt64() : null;
}

/// <summary>
/// query-blockstats, one device's counters since QEMU started: bytes and operations read and
/// written. What a hostile QEMU sends is only counted: a value missing or out of range counts 0.
/// </summary>
public sealed record QmpBlockStats(string? Device, long ReadBytes, long WriteBytes, long ReadOperations, long WriteOperations)
{
    public static IReadOnlyList<QmpBlockStats> ListFrom(JsonElement reply) =>
        reply.ValueKind != JsonValueKind.Array ? [] : [.. reply.EnumerateArray().Where(d => d.ValueKind == JsonValueKind.Object).Select(d =>
        {
            var stats = d.TryGetProperty("stats", out var s) && s.ValueKind == JsonValueKind.Object ? s : default;
            return new QmpBlockStats(
                d.TryGetProperty("qdev", out var qdev) && qdev.ValueKind == JsonValueKind.String ? qdev.GetString() : null,
                Counter(stats, "rd_bytes"), Counter(stats, "wr_bytes"), Counter(stats, "rd_operations"), Counter(stats, "wr_operations"));
        })];

    private static long Counter(JsonElement stats, string name) =>
        stats.ValueKind == JsonValueKind.Object && stats.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            && value.TryGetInt64(out var n) && n >= 0 ? n : 0;
}

/// <summary>query-balloon: what the guest holds now, in bytes (<c>actual</c>); null when QEMU said nothing usable.</summary>
public sealed record QmpBalloon(long? ActualBytes)
{
    public static QmpBalloon From(JsonElement reply) =>
        new(reply.ValueKind == JsonValueKind.Object && reply.TryGetProperty("actual", out var actual) && actual.ValueKind == JsonValueKind.Number
            && actual.TryGetInt64(out var n) && n >= 0 ? n : null);
}
