using System.Diagnostics;
using Npgsql;

namespace Paddock.Bench;

public sealed record CreateTimings(List<double> ApiPoll, List<double> EventStream, List<double> Bare);

/// <summary>
/// Create -> running: through the portal (API and event stream) and, beside it, the same QEMU
/// command line run bare. Runs alternate portal, bare, portal, bare...; at most one VM at a time.
/// </summary>
public static class CreateToRunning
{
    private static readonly TimeSpan RunningWithin = TimeSpan.FromSeconds(60);

    /// <returns>The timings and the agent's QEMU command line (the console benchmark reuses it).</returns>
    public static async Task<(CreateTimings Timings, QemuCommand Command)> RunAsync(
        Instance instance, PortalApi api, int runs, int warmups, CancellationToken ct)
    {
        var timings = new CreateTimings([], [], []);
        QemuCommand? command = null;
        for (var run = -warmups; run < runs; run++)
        {
            var (id, poll, events) = await PortalRunAsync(instance, api, $"bench-create-{run + warmups}", ct);
            // Taken after the clock stopped, from the first VM: the same argv for every bare run.
            command ??= await QemuCommand.CaptureAsync(Path.Combine(instance.VmsDir, id.ToString("D")), ct);
            await api.PowerOffAndDeleteAsync(id, ct);

            var bare = await BareRunAsync(command, ct);
            if (run >= 0)
            {
                timings.ApiPoll.Add(poll);
                timings.EventStream.Add(events);
                timings.Bare.Add(bare);
            }
        }

        return (timings, command!);
    }

    /// <summary>POST /api/vms, then GET every ~10 ms until Running; also the same span from the VM's events.</summary>
    private static async Task<(Guid Id, double PollMs, double EventsMs)> PortalRunAsync(Instance instance, PortalApi api, string name, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var id = await api.CreateVmAsync(name, ct, isolated: true);
        while (true)
        {
            var status = await api.StatusAsync(id, ct) ?? throw new InvalidOperationException($"VM {id} vanished while starting.");
            if (status.Status == "Running")
            {
                break;
            }

            if (status.Status == "Crashed" || clock.Elapsed > RunningWithin)
            {
                throw new InvalidOperationException($"VM {id} is {status.Status} after {clock.Elapsed.TotalSeconds:0.0} s: {status.LastError}");
            }

            await Task.Delay(10, ct);
        }

        var poll = clock.Elapsed.TotalMilliseconds;
        return (id, poll, await FromEventsAsync(instance, id, ct));
    }

    /// <summary>
    /// vm_created's At (the portal's clock when it decided the create) to the first
    /// vm_status_observed Running's At (the agent's clock when QMP said running).
    /// </summary>
    private static async Task<double> FromEventsAsync(Instance instance, Guid id, CancellationToken ct)
    {
        await using var db = await instance.OpenDatabaseAsync(ct);
        await using var command = new NpgsqlCommand("""
            select
              (select (data->>'At')::timestamptz from paddock.mt_events
                where stream_id = @id and type = 'vm_created' order by version limit 1),
              (select coalesce(data->>'ObservedAt', data->>'At')::timestamptz from paddock.mt_events
                where stream_id = @id and type = 'vm_status_observed' and data->>'State' = 'Running' order by version limit 1)
            """, db);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        if (reader.IsDBNull(0) || reader.IsDBNull(1))
        {
            throw new InvalidOperationException($"VM {id} shows Running but its stream lacks vm_created or a Running vm_status_observed.");
        }

        return (reader.GetDateTime(1) - reader.GetDateTime(0)).TotalMilliseconds;
    }

    /// <summary>qemu-img create of the overlay(s) + QEMU launch, until QMP query-status says running.</summary>
    private static async Task<double> BareRunAsync(QemuCommand command, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await using var qemu = await BareQemu.StartAsync(command, vnc: null, ct);
        await qemu.WaitForQmpRunningAsync(RunningWithin, ct);
        return clock.Elapsed.TotalMilliseconds;
    }
}
