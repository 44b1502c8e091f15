using System.Diagnostics;
using System.Security.Cryptography;
using Npgsql;

namespace Paddock.E2e;

/// <summary>Probes of what the portal recorded (its database and event streams) and of files, read straight from the source.</summary>
public sealed partial class PaddockFixture
{
    /// <summary>The VM's host, as the portal placed it.</summary>
    public async Task<string> HostNameOfAsync(Guid vmId)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select h.data->>'Name' from paddock.mt_doc_vm v join paddock.mt_doc_hostrecord h on h.id = (v.data->>'HostId')::uuid where v.id = @id", db);
        command.Parameters.AddWithValue("id", vmId);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The VMs placed on the host named <paramref name="hostName"/> whose QEMU runs (by their status).</summary>
    public async Task<IReadOnlyList<Guid>> RunningVmsOnAsync(string hostName)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select v.id from paddock.mt_doc_vm v join paddock.mt_doc_hostrecord h on h.id = (v.data->>'HostId')::uuid " +
            "where h.data->>'Name' = @name and v.data->>'Status' in ('Running', 'Paused', 'Starting', 'ShuttingDown')", db);
        command.Parameters.AddWithValue("name", hostName);
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    /// <summary>The id of the host named <paramref name="name"/>.</summary>
    public async Task<Guid> HostIdAsync(string name)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("select id from paddock.mt_doc_hostrecord where data->>'Name' = @name and not (data->>'Revoked')::boolean", db);
        command.Parameters.AddWithValue("name", name);
        return (Guid)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Why placement passed over each other host for the VM, as its history keeps it ("host: reason", one per line).</summary>
    public async Task<string> PassedOverAsync(Guid vmId)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select string_agg(p->>'HostName' || ': ' || (p->>'Reason'), E'\n') " +
            "from paddock.mt_events e, jsonb_array_elements(e.data->'PassedOver') p where e.stream_id = @id and e.type = 'vm_placed'", db);
        command.Parameters.AddWithValue("id", vmId);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Hosts connected now that registered (again) after <paramref name="since"/>.</summary>
    public async Task<long> ConnectedHostsAsync(DateTimeOffset? since = null)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from paddock.mt_doc_hostrecord where (data->>'Connected')::boolean and (data->>'LastSeenAt')::timestamptz > @since", db);
        command.Parameters.AddWithValue("since", since ?? DateTimeOffset.MinValue.AddYears(2000));
        try
        {
            return (long)(await command.ExecuteScalarAsync())!;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    /// <summary>The VM's history as the states it went through: created (Creating), then what the agent observed.</summary>
    public async Task<string[]> HistoryOfStatesAsync(Guid vmId)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select type, data->>'State' from paddock.mt_events where stream_id = @id and type in ('vm_created', 'vm_status_observed') order by version", db);
        command.Parameters.AddWithValue("id", vmId);
        var states = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            states.Add(reader.GetString(0) == "vm_created" ? "Creating" : reader.GetString(1));
        }

        return [.. states];
    }

    /// <summary>When the agent first observed <paramref name="state"/> for the VM (its own clock, from the VM's history).</summary>
    public async Task<DateTimeOffset> FirstObservedAtAsync(Guid vmId, string state)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select (data->>'At')::timestamptz from paddock.mt_events " +
            "where stream_id = @id and type = 'vm_status_observed' and data->>'State' = @state order by version limit 1", db);
        command.Parameters.AddWithValue("id", vmId);
        command.Parameters.AddWithValue("state", state);
        return new DateTimeOffset((DateTime)(await command.ExecuteScalarAsync())!, TimeSpan.Zero);
    }

    /// <summary>Operations whose outcome any VM's history records more than once (there must be none).</summary>
    public async Task<IReadOnlyList<string>> DuplicatedCompletionsAsync()
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select data->>'OperationId' from paddock.mt_events where type = 'vm_operation_completed' " +
            "group by stream_id, data->>'OperationId' having count(*) > 1", db);
        var duplicates = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            duplicates.Add(reader.GetString(0));
        }

        return duplicates;
    }

    /// <summary>How many times the VM's history records the outcome of <paramref name="operation"/>.</summary>
    public Task<long> CompletionsAsync(Guid vmId, Guid operation) =>
        CountAsync(
            "select count(*) from paddock.mt_events where stream_id = @id and type = 'vm_operation_completed' and data->>'OperationId' = @op",
            ("id", vmId),
            ("op", operation.ToString()));

    /// <summary>What a <c>select count(*)</c> on the run's database answers.</summary>
    public async Task<long> CountAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var db = new NpgsqlConnection(Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(sql, db);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// What the agent of host <paramref name="hostName"/> laid out for tenant networks, read from the
    /// kernel: its links, namespaces and nft tables (named with its prefix) and its dnsmasq processes
    /// (their command lines), one line each, sorted; a thing made twice shows twice.
    /// </summary>
    public async Task<IReadOnlyList<string>> LaidOutNetworksAsync(string hostName)
    {
        const string script = """
            prefix="$1"
            ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$prefix" | sed 's/^/link /'
            ip netns list | awk '{print $1}' | grep "^$prefix" | sed 's/^/netns /'
            nft list tables | awk -v p=" ${prefix}_" 'index($0, p) {print "table " $2 " " $3}'
            pgrep -a dnsmasq | cut -d' ' -f2- | grep "/networks/$prefix" | sed 's/^/dnsmasq /'
            true
            """;
        return [.. (await RunAsync("bash", "-c", script, "laid-out", NetworkPrefixOf(hostName))).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
    }

    /// <summary>The SHA-256 of a file, in lower-case hex.</summary>
    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>Waits on a condition with a deadline; never a fixed sleep.</summary>
public static class Eventually
{
    /// <summary>Asks every <paramref name="poll"/> (200 ms unless told) until <paramref name="condition"/> holds, for up to <paramref name="within"/>.</summary>
    public static async Task Async(Func<Task<bool>> condition, TimeSpan within, string what, TimeSpan? poll = null)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < within)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or NpgsqlException or IOException)
            {
                last = e;
            }

            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(200));
        }

        throw new TimeoutException($"Waited {within.TotalSeconds:0} s for {what}.", last);
    }

    public static Task Async(Func<bool> condition, TimeSpan within, string what, TimeSpan? poll = null) =>
        Async(() => Task.FromResult(condition()), within, what, poll);
}
