namespace Paddock.Portal.Features.Vms;

/// <summary>What a VM takes from its host and its owner's quota, and no more.</summary>
public sealed class VmFootprint
{
    public int VCpus { get; init; }

    public int MemoryMiB { get; init; }

    public long DiskBytes { get; init; }

    public IReadOnlyList<VmDisk> ExtraDisks { get; init; } = [];

    public PendingHardware? PendingHardware { get; init; }

    public static VmFootprint Of(Vm vm) => new()
    {
        VCpus = vm.VCpus,
        MemoryMiB = vm.MemoryMiB,
        DiskBytes = vm.DiskBytes,
        ExtraDisks = vm.ExtraDisks,
        PendingHardware = vm.PendingHardware,
    };
}

/// <summary>
/// What VMs take, summed by PostgreSQL: placement and admission ask on every create, inside its
/// transaction, and read one row per host (or one row) instead of every VM. Each VM counts as
/// <see cref="Quotas.QuotaService.UsageOf(VmFootprint)"/> counts it: the larger of its size and a
/// pending hardware change, its disks rounded up to whole MiB.
/// </summary>
public static class VmUsageTotals
{
    private const string Sums = """
        count(*),
        coalesce(sum(greatest((data->>'VCpus')::int, coalesce((data->'PendingHardware'->>'VCpus')::int, 0))), 0),
        coalesce(sum((data->>'MemoryMiB')::bigint), 0),
        coalesce(sum((greatest(
            (data->>'DiskBytes')::bigint + case when jsonb_typeof(data->'ExtraDisks') = 'array'
                then (select coalesce(sum((disk->>'SizeBytes')::bigint), 0) from jsonb_array_elements(data->'ExtraDisks') disk) else 0 end,
            coalesce((data->'PendingHardware'->>'DiskBytes')::bigint, 0)) + 1048575) / 1048576), 0)
        """;

    /// <summary>What the VMs on each host hold, by host id (hosts without VMs are absent).</summary>
    public static async Task<Dictionary<Guid, Quotas.QuotaUsage>> PerHostAsync(Marten.IQuerySession session, CancellationToken ct)
    {
        await using var command = session.Connection!.CreateCommand();
        command.CommandText = $"select (data->>'HostId')::uuid, {Sums} from {Table(session)} group by 1";
        var totals = new Dictionary<Guid, Quotas.QuotaUsage>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            totals[reader.GetGuid(0)] = Read(reader, 1);
        }

        return totals;
    }

    /// <summary>What the VMs an owner owns (or a group holds) take.</summary>
    public static async Task<Quotas.QuotaUsage> OfAsync(Marten.IQuerySession session, Guid id, bool group, CancellationToken ct)
    {
        await using var command = session.Connection!.CreateCommand();
        command.CommandText = $"select {Sums} from {Table(session)} where data->>'{(group ? "GroupId" : "OwnerId")}' = @id";
        command.Parameters.Add(new Npgsql.NpgsqlParameter("id", id.ToString()));
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return Read(reader, 0);
    }

    private static Quotas.QuotaUsage Read(System.Data.Common.DbDataReader reader, int first) =>
        new((int)reader.GetInt64(first), (int)reader.GetInt64(first + 1), reader.GetInt64(first + 2), Convert.ToInt64(reader.GetValue(first + 3), System.Globalization.CultureInfo.InvariantCulture));

    private static string Table(Marten.IQuerySession session) => $"{session.DocumentStore.Options.DatabaseSchemaName}.mt_doc_vm";
}
