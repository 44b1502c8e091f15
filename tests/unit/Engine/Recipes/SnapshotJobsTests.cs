using Paddock.Engine.Hosting;
using Paddock.Engine.Recipes;
using Paddock.Unit.Engine.Qmp;

namespace Paddock.Unit.Engine.Recipes;

public sealed class SnapshotJobsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static readonly DiskRoom Room = new("taking snapshot 'big'", 144L << 20, 10L << 30);

    private static readonly DiskRoom Lacking = Room with { FreeBytes = (3L << 20) + 12345 };

    [Fact]
    public async Task Snapshot_save_starts_a_job_waits_for_it_to_conclude_and_dismisses_it()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var saving = SnapshotJobs.SaveAsync(qmp, "before-upgrade", ["disk0", "data"], Room, CancellationToken.None);
        var start = (await connection.ExpectAsync("snapshot-save")).GetProperty("arguments");
        var id = start.GetProperty("job-id").GetString()!;
        await connection.ExpectAsync("query-jobs", $$"""[{"id": "{{id}}", "status": "running", "type": "snapshot-save"}]""");
        await connection.ExpectAsync("query-jobs",
            $$"""[{"id": "other", "status": "running"}, {"id": "{{id}}", "status": "concluded", "type": "snapshot-save"}]""");
        var dismissed = await connection.ExpectAsync("job-dismiss");
        await saving.WaitAsync(Patience);

        Assert.StartsWith("snapshot-save-", id);
        Assert.Equal("before-upgrade", start.GetProperty("tag").GetString());
        Assert.Equal("disk0", start.GetProperty("vmstate").GetString());
        Assert.Equal(["disk0", "data"], start.GetProperty("devices").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal(id, dismissed.GetProperty("arguments").GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_resend_waits_out_and_dismisses_the_snapshot_jobs_an_earlier_agent_left_whatever_their_end()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var settling = SnapshotJobs.SettleEarlierAsync(qmp, CancellationToken.None);
        // A job of the killed agent still runs, another ended in an error; a migration's mirror is not ours to touch.
        await connection.ExpectAsync("query-jobs",
            """[{"id": "snapshot-save-1", "status": "running"}, {"id": "snapshot-delete-2", "status": "concluded", "error": "gone"}, {"id": "mirror-disk0", "status": "running"}]""");
        await connection.ExpectAsync("query-jobs", """[{"id": "snapshot-save-1", "status": "concluded"}, {"id": "snapshot-delete-2", "status": "concluded", "error": "gone"}]""");
        var first = await connection.ExpectAsync("job-dismiss");
        await connection.ExpectAsync("query-jobs", """[{"id": "snapshot-delete-2", "status": "concluded", "error": "gone"}]""");
        var second = await connection.ExpectAsync("job-dismiss");
        await settling.WaitAsync(Patience);

        Assert.Equal("snapshot-save-1", first.GetProperty("arguments").GetProperty("id").GetString());
        Assert.Equal("snapshot-delete-2", second.GetProperty("arguments").GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_failed_job_is_dismissed_and_its_error_becomes_the_reason()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var deleting = SnapshotJobs.DeleteAsync(qmp, "gone", ["disk0"], CancellationToken.None);
        var start = (await connection.ExpectAsync("snapshot-delete")).GetProperty("arguments");
        var id = start.GetProperty("job-id").GetString();
        await connection.ExpectAsync("query-jobs", $$"""[{"id": "{{id}}", "status": "concluded", "error": "Snapshot 'gone' not found"}]""");
        await connection.ExpectAsync("job-dismiss");

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => deleting.WaitAsync(Patience));
        Assert.Equal("Snapshot 'gone' not found", e.Message);
        Assert.False(start.TryGetProperty("vmstate", out var _));
    }

    [Fact]
    public async Task A_snapshot_with_less_free_than_its_memory_is_refused_before_QEMU_writes_anything()
    {
        await using var session = await FakeQmpServer.SessionAsync();

        // Were snapshot-save sent, nobody would answer it and this would time out.
        var e = await Assert.ThrowsAsync<DiskFullException>(
            () => SnapshotJobs.SaveAsync(session.Client, "big", ["disk0"], Lacking, CancellationToken.None).WaitAsync(Patience));

        Assert.Equal("The host's disk is full: taking snapshot 'big' needs about 144 MiB and 3 MiB were free.", e.Message);
    }

    [Fact]
    public async Task A_snapshot_that_meets_a_full_disk_all_the_same_fails_as_a_full_disk_with_the_figures()
    {
        var e = await Assert.ThrowsAsync<DiskFullException>(() => FailedSaveAsync("Error while writing VM state: No space left on device"));

        Assert.Equal("The host's disk is full: taking snapshot 'big' needs about 144 MiB and 10240 MiB were free.", e.Message);
    }

    [Fact]
    public async Task A_snapshot_whose_memory_failed_to_write_for_another_reason_keeps_QEMUs_reason()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => FailedSaveAsync("Error while writing VM state: Input/output error"));

        Assert.Equal("Error while writing VM state: Input/output error", e.Message);
    }

    /// <summary>A snapshot-save whose job concludes with <paramref name="error"/>.</summary>
    private static async Task FailedSaveAsync(string error)
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var saving = SnapshotJobs.SaveAsync(qmp, "big", ["disk0"], Room, CancellationToken.None);
        var id = (await connection.ExpectAsync("snapshot-save")).GetProperty("arguments").GetProperty("job-id").GetString();
        await connection.ExpectAsync("query-jobs", $$"""[{"id": "{{id}}", "status": "concluded", "error": "{{error}}"}]""");
        await connection.ExpectAsync("job-dismiss");
        await saving.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_job_that_does_not_conclude_in_time_is_a_timeout()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var waiting = SnapshotJobs.WaitForJobAsync(qmp, "snapshot-load-1", CancellationToken.None, limit: TimeSpan.FromMilliseconds(300));
        await connection.AnswerUntilAsync(waiting, "query-jobs", """[{"id": "snapshot-load-1", "status": "running"}]""");

        await Assert.ThrowsAsync<TimeoutException>(() => waiting.WaitAsync(Patience));
    }
}
