using System.Text.Json;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Unit.Engine.Qmp;

namespace Paddock.Unit.Engine.Recipes;

public sealed class LiveMigrationTests
{
    private const string Nbd = "/run/agent/m1/nbd.sock";
    private const string Stream = "/run/agent/m1/migrate.sock";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    // A linked clone (its base is on the destination already) and a blank data disk.
    private static readonly DiskSpec[] Disks = [new("disk0", 1 << 30, "builtin-busybox.qcow2"), new("data", 1 << 30, null)];

    private static readonly LiveMigrationOptions Quick = new() { PollInterval = TimeSpan.FromMilliseconds(1), ProgressInterval = TimeSpan.Zero };

    private static string Job(string id, string status, long offset = 0, long len = 0, string? error = null) =>
        $$"""{"type": "mirror", "device": "{{id}}", "len": {{len}}, "offset": {{offset}}, "busy": false, "paused": false, "speed": 0, "io-status": "ok", "ready": {{(status == "ready" ? "true" : "false")}}, "status": "{{status}}", "auto-finalize": true, "auto-dismiss": false{{(error is null ? "" : $", \"error\": \"{error}\"")}}}""";

    private static string Jobs(string status, long offset = 0, long len = 0) =>
        $"[{Job("mirror-disk0", status, offset, len)}, {Job("mirror-data", status, offset, len)}]";

    private static string Active(long transferred, long remaining) =>
        $$$"""{"status": "active", "total-time": 120, "setup-time": 2, "expected-downtime": 42, "ram": {"transferred": {{{transferred}}}, "remaining": {{{remaining}}}, "total": 285810688, "dirty-pages-rate": 250, "page-size": 4096, "mbps": 2000.0}}""";

    private const string Completed = """{"status": "completed", "total-time": 325, "setup-time": 1, "downtime": 7, "ram": {"transferred": 89113412, "remaining": 0, "total": 285810688, "dirty-pages-rate": 0, "page-size": 4096}}""";

    [Fact]
    public async Task Disks_are_mirrored_until_ready_then_memory_moves_and_the_mirrors_must_still_be_in_step()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var migrating = LiveMigration.MigrateAsync(session.Client, Disks, Nbd, Stream, null, CancellationToken.None, Quick);
        await c.ExpectAsync("query-status", """{"status": "running", "running": true}""");
        var capabilities = (await c.ExpectAsync("migrate-set-capabilities")).GetProperty("arguments");
        var parameters = (await c.ExpectAsync("migrate-set-parameters")).GetProperty("arguments");
        var target = (await c.ExpectAsync("blockdev-add")).GetProperty("arguments");
        var mirror = (await c.ExpectAsync("blockdev-mirror")).GetProperty("arguments");
        await c.ExpectAsync("blockdev-add");
        var dataMirror = (await c.ExpectAsync("blockdev-mirror")).GetProperty("arguments");
        await c.ExpectAsync("query-block-jobs", Jobs("running", 10, 100));
        await c.ExpectAsync("query-block-jobs", Jobs("ready", 100, 100));
        var migrate = (await c.ExpectAsync("migrate")).GetProperty("arguments");
        await c.ExpectAsync("query-migrate", Active(1000, 5000));
        await c.ExpectAsync("query-migrate", """{"status": "device"}""");
        await c.ExpectAsync("query-migrate", Completed);
        await c.ExpectAsync("query-block-jobs", Jobs("ready", 100, 100));
        var figures = await migrating.WaitAsync(Patience);

        Assert.Equal(
            [("auto-converge", true)],
            capabilities.GetProperty("capabilities").EnumerateArray().Select(e => (e.GetProperty("capability").GetString(), e.GetProperty("state").GetBoolean())));
        Assert.Equal(LiveMigrationOptions.Unlimited, parameters.GetProperty("max-bandwidth").GetInt64());
        Assert.Equal(300, parameters.GetProperty("downtime-limit").GetInt64());
        Assert.Equal("""{"driver":"nbd","node-name":"nbd-disk0","server":{"type":"unix","path":"/run/agent/m1/nbd.sock"},"export":"disk0"}""", target.GetRawText());
        Assert.Equal(("mirror-disk0", "disk0", "nbd-disk0", "top", "write-blocking", false),
            (mirror.GetProperty("job-id").GetString(), mirror.GetProperty("device").GetString(), mirror.GetProperty("target").GetString(),
             mirror.GetProperty("sync").GetString(), mirror.GetProperty("copy-mode").GetString(), mirror.GetProperty("auto-dismiss").GetBoolean()));
        Assert.Equal("full", dataMirror.GetProperty("sync").GetString());
        Assert.Equal($"unix:{Stream}", migrate.GetProperty("uri").GetString());
        Assert.Equal(new MigrationFigures(figures.DiskMirrorTime, 200, TimeSpan.FromMilliseconds(325), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(7), 89113412, 285810688), figures);
    }

    [Fact]
    public async Task Progress_reports_the_phase_the_disks_share_copied_and_the_memory_figures()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;
        var reports = new Recorder();
        var disk = Disks[..1];

        var migrating = LiveMigration.MigrateAsync(session.Client, disk, Nbd, Stream, reports, CancellationToken.None, Quick);
        await ExpectMirrorsStartedAsync(c, disks: 1);

        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "running", 25, 100)}]");
        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "ready", 100, 100)}]");
        await c.ExpectAsync("migrate");
        await c.ExpectAsync("query-migrate", Active(1000, 5000));
        await c.ExpectAsync("query-migrate", Active(5500, 500).Replace("active", "device"));
        await c.ExpectAsync("query-migrate", Completed);
        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "ready", 100, 100)}]");
        await migrating.WaitAsync(Patience);

        Assert.Equal(
            [
                new(MigrationPhase.Setup, 0, 0, 0, 0, 0, null),
                new(MigrationPhase.Disks, 25, 0, 0, 0, 0, null),
                new(MigrationPhase.Memory, 100, 1000, 5000, 285810688, 250 * 4096, TimeSpan.FromMilliseconds(42)),
                new(MigrationPhase.Switchover, 100, 5500, 500, 285810688, 250 * 4096, TimeSpan.FromMilliseconds(42)),
                new(MigrationPhase.Completed, 100, 89113412, 0, 285810688, 0, null),
            ],
            reports.Values);
    }

    [Fact]
    public async Task Cancel_while_the_disks_copy_abandons_the_mirrors_and_leaves_the_source_running()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;
        using var cancel = new CancellationTokenSource();

        var migrating = LiveMigration.MigrateAsync(session.Client, Disks, Nbd, Stream, null, cancel.Token, Quick);
        await ExpectMirrorsStartedAsync(c);
        await c.ReceiveAsync();
        await cancel.CancelAsync();
        await c.ExpectAsync("migrate_cancel");
        await c.ExpectAsync("query-block-jobs", Jobs("running", 10, 100));
        var cancels = new[] { await c.ExpectAsync("block-job-cancel"), await c.ExpectAsync("block-job-cancel") };
        await c.ExpectAsync("query-block-jobs", Jobs("concluded", 10, 100));
        await c.ExpectAsync("job-dismiss");
        await c.ExpectAsync("job-dismiss");
        await c.ExpectAsync("query-block-jobs", "[]");
        await ExpectTargetsClosedAndSourceLeftRunningAsync(c, "{}");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => migrating.WaitAsync(Patience));
        Assert.All(cancels, cancel => Assert.True(cancel.GetProperty("arguments").GetProperty("force").GetBoolean()));
    }

    [Fact]
    public async Task Cancel_while_memory_moves_cancels_the_migration_and_resumes_a_source_left_stopped()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;
        using var cancel = new CancellationTokenSource();

        var migrating = await MigrateOneDiskUntilMemoryMovesAsync(session, cancel.Token);
        await c.ExpectAsync("query-migrate", Active(1000, 5000));
        await c.ReceiveAsync();
        await cancel.CancelAsync();
        await c.ExpectAsync("migrate_cancel");
        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "ready", 100, 100)}]");
        await c.ExpectAsync("block-job-cancel");
        await c.ExpectAsync("query-block-jobs", "[]");
        await c.ExpectAsync("blockdev-del");
        await c.ExpectAsync("query-migrate", """{"status": "cancelling"}""");
        await c.ExpectAsync("query-migrate", """{"status": "cancelled"}""");
        await c.ExpectAsync("query-status", """{"status": "paused"}""");
        await c.ExpectAsync("cont");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => migrating.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_failing_mirror_fails_the_migration_naming_the_disk_and_QEMUs_reason()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var migrating = LiveMigration.MigrateAsync(session.Client, Disks, Nbd, Stream, null, CancellationToken.None, Quick);
        await ExpectMirrorsStartedAsync(c);
        var failed = $"[{Job("mirror-disk0", "running", 10, 100)}, {Job("mirror-data", "concluded", 10, 100, "Input/output error")}]";
        await c.ExpectAsync("query-block-jobs", failed);
        await c.ExpectAsync("migrate_cancel");
        await c.ExpectAsync("query-block-jobs", failed);
        var cancelled = await c.ExpectAsync("block-job-cancel");
        var dismissed = await c.ExpectAsync("job-dismiss");
        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "concluded", 10, 100)}]");
        await c.ExpectAsync("job-dismiss");
        await c.ExpectAsync("query-block-jobs", "[]");
        await ExpectTargetsClosedAndSourceLeftRunningAsync(c, "{}");

        var e = await Assert.ThrowsAsync<DiskMirrorFailedException>(() => migrating.WaitAsync(Patience));
        Assert.Equal("Copying disk 'data' to the destination failed: Input/output error", e.Message);
        Assert.Equal("mirror-disk0", cancelled.GetProperty("arguments").GetProperty("device").GetString());
        Assert.Equal("mirror-data", dismissed.GetProperty("arguments").GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_mirror_that_failed_while_memory_moved_fails_the_migration_and_the_completed_source_runs_again()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var migrating = await MigrateOneDiskUntilMemoryMovesAsync(session, CancellationToken.None);
        await c.ExpectAsync("query-migrate", Completed);
        var failed = $"[{Job("mirror-disk0", "concluded", 50, 100, "Could not write to the NBD export: Connection reset by peer")}]";
        await c.ExpectAsync("query-block-jobs", failed);
        await c.ExpectAsync("migrate_cancel");
        await c.ExpectAsync("query-block-jobs", failed);
        await c.ExpectAsync("job-dismiss");
        await c.ExpectAsync("query-block-jobs", "[]");
        await c.ExpectAsync("blockdev-del");
        await c.ExpectAsync("query-migrate", Completed);
        await c.ExpectAsync("query-status", """{"status": "postmigrate"}""");
        await c.ExpectAsync("cont");

        var e = await Assert.ThrowsAsync<DiskMirrorFailedException>(() => migrating.WaitAsync(Patience));
        Assert.Equal(("disk0", "Could not write to the NBD export: Connection reset by peer"), (e.DiskId, e.Reason));
    }

    [Fact]
    public async Task Resuming_the_source_after_a_completed_migration_abandons_its_mirrors_first()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var resuming = LiveMigration.ResumeSourceAsync(session.Client, Disks[..1], CancellationToken.None);
        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "ready", 100, 100)}]");
        var cancel = (await c.ExpectAsync("block-job-cancel")).GetProperty("arguments");
        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "concluded", 100, 100)}]");
        await c.ExpectAsync("job-dismiss");
        await c.ExpectAsync("query-block-jobs", "[]");
        await c.ExpectAsync("blockdev-del");
        await c.ExpectAsync("cont");
        await resuming.WaitAsync(Patience);

        Assert.Equal("""{"device":"mirror-disk0","force":true}""", cancel.GetRawText());
    }

    [Fact]
    public async Task An_unreachable_NBD_export_fails_the_migration_for_that_disk()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var migrating = LiveMigration.MigrateAsync(session.Client, Disks[..1], Nbd, Stream, null, CancellationToken.None, Quick);
        await c.ExpectAsync("query-status", """{"status": "running"}""");
        await c.ExpectAsync("migrate-set-capabilities");
        await c.ExpectAsync("migrate-set-parameters");
        await c.ErrorAsync(await c.ReceiveAsync(), "Failed to connect to '/run/agent/m1/nbd.sock': Connection refused");
        await c.ExpectAsync("migrate_cancel");
        await c.ExpectAsync("query-block-jobs", "[]");
        await c.ErrorAsync(await c.ReceiveAsync(), "Failed to find node with node-name='nbd-disk0'");
        await c.ExpectAsync("query-migrate", "{}");
        await c.ExpectAsync("query-status", """{"status": "running"}""");

        var e = await Assert.ThrowsAsync<DiskMirrorFailedException>(() => migrating.WaitAsync(Patience));
        Assert.Equal(("disk0", "Failed to connect to '/run/agent/m1/nbd.sock': Connection refused"), (e.DiskId, e.Reason));
    }

    [Fact]
    public async Task A_failed_migrate_status_fails_with_QEMUs_reason_and_the_source_runs_on()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var migrating = await MigrateOneDiskUntilMemoryMovesAsync(session, CancellationToken.None);
        await c.ExpectAsync("query-migrate", """{"status": "failed", "error-desc": "Unable to write to socket: Broken pipe"}""");
        await c.ExpectAsync("migrate_cancel");
        await c.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "ready", 100, 100)}]");
        await c.ExpectAsync("block-job-cancel");
        await c.ExpectAsync("query-block-jobs", "[]");
        await c.ExpectAsync("blockdev-del");
        await c.ExpectAsync("query-migrate", """{"status": "failed", "error-desc": "Unable to write to socket: Broken pipe"}""");
        await c.ExpectAsync("query-status", """{"status": "running"}""");

        var e = await Assert.ThrowsAsync<MemoryMigrationFailedException>(() => migrating.WaitAsync(Patience));
        Assert.Equal("QEMU could not move the VM's memory (failed): Unable to write to socket: Broken pipe", e.Message);
    }

    [Fact]
    public async Task Memory_that_never_reaches_the_switchover_is_a_timeout_of_that_phase()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;
        var impatient = Quick with { MemoryTimeout = TimeSpan.FromMilliseconds(200) };

        var migrating = LiveMigration.MigrateAsync(session.Client, [], Nbd, Stream, null, CancellationToken.None, impatient);
        await c.ExpectAsync("query-status", """{"status": "running"}""");
        await c.ExpectAsync("migrate-set-capabilities");
        await c.ExpectAsync("migrate-set-parameters");
        await c.ExpectAsync("query-block-jobs", "[]");
        await c.ExpectAsync("migrate");
        JsonElement next;
        while ((next = await c.ReceiveAsync()).GetProperty("execute").GetString() == "query-migrate")
        {
            await c.ReplyAsync(next, Active(1000, 5000));
        }

        Assert.Equal("migrate_cancel", next.GetProperty("execute").GetString());
        await c.ReplyAsync(next, "{}");
        await c.ExpectAsync("query-block-jobs", "[]");
        await c.ExpectAsync("query-migrate", """{"status": "cancelled"}""");
        await c.ExpectAsync("query-status", """{"status": "running"}""");

        var e = await Assert.ThrowsAsync<MigrationTimeoutException>(() => migrating.WaitAsync(Patience));
        Assert.Equal(MigrationPhase.Memory, e.Phase);
    }

    [Fact]
    public async Task The_destination_exports_its_disks_on_its_NBD_socket_and_awaits_the_stream()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var preparing = LiveMigration.PrepareDestinationAsync(session.Client, Disks, "/vms/x/qemu/nbd.sock", "/vms/x/qemu/incoming.sock", CancellationToken.None);
        var server = (await c.ExpectAsync("nbd-server-start")).GetProperty("arguments");
        var exports = new[] { await c.ExpectAsync("block-export-add"), await c.ExpectAsync("block-export-add") };
        var incoming = (await c.ExpectAsync("migrate-incoming")).GetProperty("arguments");
        await preparing.WaitAsync(Patience);

        Assert.Equal("""{"addr":{"type":"unix","data":{"path":"/vms/x/qemu/nbd.sock"}}}""", server.GetRawText());
        Assert.Equal("""{"type":"nbd","id":"migrate-disk0","node-name":"disk0","name":"disk0","writable":true}""", exports[0].GetProperty("arguments").GetRawText());
        Assert.Equal("data", exports[1].GetProperty("arguments").GetProperty("name").GetString());
        Assert.Equal("unix:/vms/x/qemu/incoming.sock", incoming.GetProperty("uri").GetString());
    }

    [Fact]
    public async Task The_destination_is_told_to_run_then_awaits_the_incoming_migration_and_closes_its_NBD_server()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var resuming = LiveMigration.ResumeDestinationAsync(session.Client, CancellationToken.None, Quick);
        await c.ExpectAsync("cont");
        await c.ExpectAsync("query-migrate", """{"status": "active"}""");
        await c.ExpectAsync("query-migrate", """{"status": "completed"}""");
        await c.ExpectAsync("nbd-server-stop");
        await resuming.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_failed_incoming_migration_fails_the_resume_and_the_destination_is_told_to_quit()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var c = session.Connection;

        var resuming = LiveMigration.ResumeDestinationAsync(session.Client, CancellationToken.None, Quick);
        await c.ExpectAsync("cont");
        await c.ExpectAsync("query-migrate", """{"status": "failed", "error-desc": "load of migration failed: Input/output error"}""");

        await Assert.ThrowsAsync<MemoryMigrationFailedException>(() => resuming.WaitAsync(Patience));
        var abort = LiveMigration.AbortDestinationAsync(session.Client);
        await c.ExpectAsync("quit");
        await abort.WaitAsync(Patience);
    }

    /// <summary>A running source's first steps for <see cref="Disks"/>: capabilities, parameters, then an NBD target and a mirror per disk.</summary>
    private static async Task ExpectMirrorsStartedAsync(FakeQmpConnection c, int disks = 2)
    {
        await c.ExpectAsync("query-status", """{"status": "running"}""");
        await c.ExpectAsync("migrate-set-capabilities");
        await c.ExpectAsync("migrate-set-parameters");
        for (var i = 0; i < disks; i++)
        {
            await c.ExpectAsync("blockdev-add");
            await c.ExpectAsync("blockdev-mirror");
        }
    }

    /// <summary>Starts migrating disk0 alone and answers up to <c>migrate</c>, the mirror ready at the first look.</summary>
    private static async Task<Task<MigrationFigures>> MigrateOneDiskUntilMemoryMovesAsync(FakeQmpSession session, CancellationToken ct)
    {
        var migrating = LiveMigration.MigrateAsync(session.Client, Disks[..1], Nbd, Stream, null, ct, Quick);
        await ExpectMirrorsStartedAsync(session.Connection, disks: 1);
        await session.Connection.ExpectAsync("query-block-jobs", $"[{Job("mirror-disk0", "ready", 100, 100)}]");
        await session.Connection.ExpectAsync("migrate");
        return migrating;
    }

    /// <summary>The rollback's end for <see cref="Disks"/>: both NBD targets closed, the migration settled, the guest found running.</summary>
    private static async Task ExpectTargetsClosedAndSourceLeftRunningAsync(FakeQmpConnection c, string migration)
    {
        Assert.Equal("nbd-disk0", (await c.ExpectAsync("blockdev-del")).GetProperty("arguments").GetProperty("node-name").GetString());
        Assert.Equal("nbd-data", (await c.ExpectAsync("blockdev-del")).GetProperty("arguments").GetProperty("node-name").GetString());
        await c.ExpectAsync("query-migrate", migration);
        await c.ExpectAsync("query-status", """{"status": "running"}""");
    }

    /// <summary>Keeps every report, in order, on the reporting thread (Progress&lt;T&gt; would post them elsewhere).</summary>
    private sealed class Recorder : IProgress<MigrationProgress>
    {
        public List<MigrationProgress> Values { get; } = [];

        public void Report(MigrationProgress value) => Values.Add(value);
    }
}
