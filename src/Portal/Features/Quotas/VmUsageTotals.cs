using Marten;

namespace Paddock.Portal.Features.Quotas;

/// <summary>
/// What VMs take, summed by PostgreSQL: placement and admission ask on every create, inside its
/// transaction, and read one row per host (or one row) instead of every VM. Each VM counts as
/// <see cref="QuotaService.UsageOf(IVmFootprint)"/> counts it: the larger of its size and a
/// pending hardware change, plus its states (saved, snapshot memory, under way), rounded up to whole MiB. It reads the VM documents' table
/// by the names of their JSON fields, so that the features below Vms can sum them without the Vm
/// type: a field renamed in <c>Vm</c> is renamed here too.
/// </summary>
public static class VmUsageTotals
{
    // sum() of bigints is numeric in PostgreSQL: each VM's bytes are cast back to bigint so that the
    // division by a MiB rounds up as QuotaUsage.MiB does, not to a fraction that the reader rounds.
    private static string Sums(string host) => $$"""
        jsonb_build_object(
        'Host', {{host}},
        'Vms', count(*),
        'VCpus', coalesce(sum(greatest((data->>'VCpus')::int, coalesce((data->'PendingHardware'->>'VCpus')::int, 0))), 0),
        'MemoryMiB', coalesce(sum((data->>'MemoryMiB')::bigint), 0),
        'DiskMiB', coalesce(sum(((greatest(
            (data->>'DiskBytes')::bigint + case when jsonb_typeof(data->'ExtraDisks') = 'array'
                then (select coalesce(sum((disk->>'SizeBytes')::bigint), 0) from jsonb_array_elements(data->'ExtraDisks') disk) else 0 end,
            coalesce((data->'PendingHardware'->>'DiskBytes')::bigint, 0))
            + coalesce((data->>'SavedBytes')::bigint, 0)
            + coalesce((data->'PendingState'->>'Bytes')::bigint, 0)
            + case when jsonb_typeof(data->'Snapshots') = 'array'
                then (select coalesce(sum((snapshot->>'StateBytes')::bigint), 0) from jsonb_array_elements(data->'Snapshots') snapshot) else 0 end
            )::bigint + 1048575) / 1048576), 0))
        """;

    /// <summary>
    /// What the VMs on each host hold, by host id (hosts without VMs are absent); a migrating VM
    /// counts on both its hosts. Only the hosts in <paramref name="hosts"/> when given (through the
    /// indexes on the VMs' host and on their migration's destination).
    /// </summary>
    public static async Task<Dictionary<Guid, QuotaUsage>> PerHostAsync(IQuerySession session, CancellationToken ct, IReadOnlyCollection<Guid>? hosts = null)
    {
        // A VM moving between hosts holds its allocation on both until the move ends.
        var only = hosts is null ? "" : "and (data->>'HostId')::uuid = any(?)";
        var onlyTo = hosts is null ? "" : "and (data->'Migration'->>'ToHostId')::uuid = any(?)";
        var sql = $"""
            select {Sums("host")} from (
                select (data->>'HostId')::uuid as host, data from {Table(session)} where true {only}
                union all
                select (data->'Migration'->>'ToHostId')::uuid, data from {Table(session)} where jsonb_typeof(data->'Migration') = 'object' {onlyTo}) placed
            group by host
            """;
        var rows = hosts is null
            ? await session.AdvancedSql.QueryAsync<Totals>(sql, ct)
            : await session.AdvancedSql.QueryAsync<Totals>(sql, ct, hosts.ToArray(), hosts.ToArray());
        return rows.Where(r => r.Host is not null).ToDictionary(r => r.Host!.Value, r => r.Usage);
    }

    /// <summary>What the VMs on one host hold (with those migrating to it), as <see cref="PerHostAsync"/> counts them.</summary>
    public static async Task<QuotaUsage> OnHostAsync(IQuerySession session, Guid hostId, CancellationToken ct)
    {
        var rows = await session.AdvancedSql.QueryAsync<Totals>($"""
            select {Sums("null")} from (
                select data from {Table(session)} where (data->>'HostId')::uuid = ?
                union all
                select data from {Table(session)} where jsonb_typeof(data->'Migration') = 'object' and (data->'Migration'->>'ToHostId')::uuid = ?) placed
            """, ct, hostId, hostId);
        return rows.Single().Usage;
    }

    /// <summary>What the VMs an owner owns (or a group holds) take; only those in one of <paramref name="states"/> (the names of their statuses) when given.</summary>
    public static async Task<QuotaUsage> OfAsync(IQuerySession session, Guid id, bool group, CancellationToken ct, IReadOnlyCollection<string>? states = null)
    {
        // Cast as the indexes on the VMs' owner and group are (a text comparison would read every VM).
        var where = $"(data->>'{(group ? "GroupId" : "OwnerId")}')::uuid = ?";
        var rows = states is null
            ? await session.AdvancedSql.QueryAsync<Totals>($"select {Sums("null")} from {Table(session)} where {where}", ct, id)
            : await session.AdvancedSql.QueryAsync<Totals>($"select {Sums("null")} from {Table(session)} where {where} and data->>'Status' = any(?)", ct, id, states.ToArray());
        return rows.Single().Usage;
    }

    /// <summary>One row of sums, as PostgreSQL builds it (jsonb): read through the session, so never on a thread that waits for a connection.</summary>
    private sealed record Totals(Guid? Host, long Vms, long VCpus, long MemoryMiB, long DiskMiB)
    {
        public QuotaUsage Usage => new((int)Vms, (int)VCpus, MemoryMiB, DiskMiB);
    }

    private static string Table(IQuerySession session) => $"{session.DocumentStore.Options.DatabaseSchemaName}.mt_doc_vm";
}
