namespace Paddock.Engine.Qmp;

/// <summary>
/// One method per QMP command the agent sends, named for it, with its arguments spelled as QEMU
/// wants them (QEMU's qapi schema, 7.2); the only place that knows command names. Modelled on
/// libvirt's qemu_monitor_json.c. Every method takes the client's usual cancellation and timeout.
/// </summary>
public static partial class QmpCommands
{
    /// <summary>How long a command sent to a QEMU that may be going away (or to tidy up after a failure) waits for its reply.</summary>
    public static readonly TimeSpan Brief = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs <paramref name="command"/> and swallows a QMP failure: for commands to a QEMU that may
    /// already be gone, whose end is observed elsewhere.
    /// </summary>
    public static async Task<bool> TryAsync(this QmpClient qmp, Func<QmpClient, Task> command)
    {
        try
        {
            await command(qmp).ConfigureAwait(false);
            return true;
        }
        catch (QmpException)
        {
            return false;
        }
    }

    // Run state (qapi/run-state.json, qapi/misc.json).

    public static Task StopAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("stop", null, ct, timeout);

    public static Task ContAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("cont", null, ct, timeout);

    public static Task SystemResetAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("system_reset", null, ct, timeout);

    /// <summary>Presses the guest's ACPI power button.</summary>
    public static Task SystemPowerdownAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("system_powerdown", null, ct, timeout);

    public static Task QuitAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("quit", null, ct, timeout);

    /// <summary>
    /// Presses <paramref name="qcodes"/> together (QEMU's key codes: ctrl, alt, delete, f1...) and lets
    /// them go after <paramref name="holdTime"/> (QEMU's default: 100 ms). QEMU queues the presses and
    /// answers at once.
    /// </summary>
    public static Task SendKeyAsync(this QmpClient qmp, IEnumerable<string> qcodes, CancellationToken ct = default, TimeSpan? timeout = null, TimeSpan? holdTime = null)
    {
        var keys = qcodes.Select(k => new { type = "qcode", data = k }).ToArray();
        return holdTime is { } hold
            ? qmp.ExecuteAsync("send-key", new Dictionary<string, object> { ["keys"] = keys, ["hold-time"] = (int)hold.TotalMilliseconds }, ct, timeout)
            : qmp.ExecuteAsync("send-key", new { keys }, ct, timeout);
    }

    public static async Task<QmpRunStatus> QueryStatusAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpRunStatus.From(await qmp.ExecuteAsync("query-status", null, ct, timeout).ConfigureAwait(false));

    /// <summary>Asks the balloon for a guest of <paramref name="bytes"/> (the guest's size, not what to take away).</summary>
    public static Task BalloonAsync(this QmpClient qmp, long bytes, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("balloon", new Dictionary<string, object> { ["value"] = bytes }, ct, timeout);

    // Migration (qapi/migration.json).

    public static Task MigrateAsync(this QmpClient qmp, string uri, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("migrate", new { uri }, ct, timeout);

    /// <summary>Starts listening for a migration on a QEMU started with <c>-incoming defer</c>.</summary>
    public static Task MigrateIncomingAsync(this QmpClient qmp, string uri, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("migrate-incoming", new { uri }, ct, timeout);

    public static async Task<QmpMigration> QueryMigrateAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpMigration.From(await qmp.ExecuteAsync("query-migrate", null, ct, timeout).ConfigureAwait(false));

    /// <summary>Turns migration capabilities on or off (<c>auto-converge</c>, <c>pause-before-switchover</c>, <c>events</c>, ...); set before <c>migrate</c>.</summary>
    public static Task MigrateSetCapabilitiesAsync(this QmpClient qmp, IReadOnlyDictionary<string, bool> capabilities, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("migrate-set-capabilities", new
        {
            capabilities = capabilities.Select(c => new { capability = c.Key, state = c.Value }).ToArray(),
        }, ct, timeout);

    /// <summary>Sets migration parameters; <paramref name="parameters"/> are MigrateSetParameters members (<c>max-bandwidth</c> in bytes/s, <c>downtime-limit</c> in ms, ...), open-ended as in QEMU.</summary>
    public static Task MigrateSetParametersAsync(this QmpClient qmp, IReadOnlyDictionary<string, object> parameters, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("migrate-set-parameters", parameters, ct, timeout);

    /// <summary>Cancels the outgoing migration, if any; a guest that was running runs on (QEMU restarts it itself).</summary>
    public static Task MigrateCancelAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("migrate_cancel", null, ct, timeout);

    // Jobs and internal snapshots (qapi/job.json, qapi/migration.json).

    public static async Task<IReadOnlyList<QmpJob>> QueryJobsAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpJob.ListFrom(await qmp.ExecuteAsync("query-jobs", null, ct, timeout).ConfigureAwait(false));

    public static Task JobDismissAsync(this QmpClient qmp, string id, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("job-dismiss", new { id }, ct, timeout);

    /// <summary>
    /// Starts job <paramref name="jobId"/>: snapshot <paramref name="tag"/> of
    /// <paramref name="devices"/>, RAM into <paramref name="vmstate"/>.
    /// </summary>
    public static Task SnapshotSaveAsync(this QmpClient qmp, string jobId, string tag, string vmstate, IReadOnlyList<string> devices,
        CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("snapshot-save", SnapshotArguments(jobId, tag, vmstate, devices), ct, timeout);

    public static Task SnapshotLoadAsync(this QmpClient qmp, string jobId, string tag, string vmstate, IReadOnlyList<string> devices,
        CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("snapshot-load", SnapshotArguments(jobId, tag, vmstate, devices), ct, timeout);

    public static Task SnapshotDeleteAsync(
        this QmpClient qmp, string jobId, string tag, IReadOnlyList<string> devices, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("snapshot-delete", new Dictionary<string, object> { ["job-id"] = jobId, ["tag"] = tag, ["devices"] = devices }, ct, timeout);

    private static Dictionary<string, object> SnapshotArguments(string jobId, string tag, string vmstate, IReadOnlyList<string> devices) =>
        new() { ["job-id"] = jobId, ["tag"] = tag, ["vmstate"] = vmstate, ["devices"] = devices };

    // Block devices (qapi/block-core.json, qapi/block.json).

    /// <summary>Adds a block node; <paramref name="options"/> are BlockdevOptions (driver, node-name, ...), open-ended as in QEMU.</summary>
    public static Task BlockdevAddAsync(
        this QmpClient qmp, IReadOnlyDictionary<string, object?> options, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("blockdev-add", options, ct, timeout);

    public static Task BlockdevDelAsync(this QmpClient qmp, string nodeName, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("blockdev-del", new Dictionary<string, object> { ["node-name"] = nodeName }, ct, timeout);

    public static Task BlockResizeAsync(this QmpClient qmp, string nodeName, long size, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("block_resize", new Dictionary<string, object> { ["node-name"] = nodeName, ["size"] = size }, ct, timeout);

    /// <summary>Takes the medium out of the removable drive of device <paramref name="id"/>.</summary>
    public static Task EjectAsync(this QmpClient qmp, string id, bool force, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("eject", new { id, force }, ct, timeout);

    /// <summary>Puts <paramref name="filename"/> into the removable drive of device <paramref name="id"/>, read-only.</summary>
    public static Task BlockdevChangeMediumAsync(
        this QmpClient qmp, string id, string filename, string format, bool force, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("blockdev-change-medium", new Dictionary<string, object>
        {
            ["id"] = id,
            ["filename"] = filename,
            ["format"] = format,
            ["read-only-mode"] = "read-only",
            ["force"] = force,
        }, ct, timeout);

    /// <summary>Sets the throttle of the block backend at QOM path <paramref name="id"/>, in throttle group <paramref name="group"/>; 0 is no limit.</summary>
    public static Task BlockSetIoThrottleAsync(
        this QmpClient qmp, string id, string group, long iops, long bps, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("block_set_io_throttle", new Dictionary<string, object>
        {
            ["id"] = id,
            ["group"] = group,
            ["iops"] = iops,
            ["iops_rd"] = 0,
            ["iops_wr"] = 0,
            ["bps"] = bps,
            ["bps_rd"] = 0,
            ["bps_wr"] = 0,
        }, ct, timeout);

    /// <summary>
    /// Starts job <paramref name="jobId"/> copying node <paramref name="device"/> into node <paramref name="target"/>:
    /// <paramref name="sync"/> <c>full</c> copies everything the guest sees, <c>top</c> only the top layer (the
    /// target already has the base); <paramref name="copyMode"/> <c>write-blocking</c> also writes each guest
    /// write to the target before completing it, <c>background</c> copies it later. Auto-dismiss is off so
    /// that a failed job stays in query-block-jobs with its error until job-dismiss.
    /// </summary>
    public static Task BlockdevMirrorAsync(this QmpClient qmp, string jobId, string device, string target, string sync, string copyMode, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("blockdev-mirror", new Dictionary<string, object>
        {
            ["job-id"] = jobId,
            ["device"] = device,
            ["target"] = target,
            ["sync"] = sync,
            ["copy-mode"] = copyMode,
            ["auto-dismiss"] = false,
        }, ct, timeout);

    public static async Task<IReadOnlyList<QmpBlockJob>> QueryBlockJobsAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpBlockJob.ListFrom(await qmp.ExecuteAsync("query-block-jobs", null, ct, timeout).ConfigureAwait(false));

    /// <summary>
    /// Ends block job <paramref name="device"/> (its id). A mirror that is ready and not
    /// <paramref name="force"/>d first copies what is still dirty and concludes without error,
    /// leaving the target a consistent copy and the guest on its source; any other cancel abandons the copy.
    /// </summary>
    public static Task BlockJobCancelAsync(this QmpClient qmp, string device, bool force, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("block-job-cancel", new { device, force }, ct, timeout);

    // Block exports (qapi/block-export.json).

    /// <summary>Starts QEMU's NBD server on the unix socket <paramref name="path"/> (QEMU listens; never on a network).</summary>
    public static Task NbdServerStartAsync(this QmpClient qmp, string path, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("nbd-server-start", new { addr = new { type = "unix", data = new { path } } }, ct, timeout);

    /// <summary>Stops the NBD server, closing every NBD export and connection.</summary>
    public static Task NbdServerStopAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("nbd-server-stop", null, ct, timeout);

    /// <summary>Exports node <paramref name="nodeName"/> on the NBD server as <paramref name="name"/>, under block export <paramref name="id"/>.</summary>
    public static Task BlockExportAddNbdAsync(this QmpClient qmp, string id, string nodeName, string name, bool writable, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("block-export-add", new Dictionary<string, object>
        {
            ["type"] = "nbd",
            ["id"] = id,
            ["node-name"] = nodeName,
            ["name"] = name,
            ["writable"] = writable,
        }, ct, timeout);

    public static async Task<IReadOnlyList<QmpBlock>> QueryBlockAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpBlock.ListFrom(await qmp.ExecuteAsync("query-block", null, ct, timeout).ConfigureAwait(false));

    // Devices and network backends (qapi/qdev.json, qapi/net.json, qapi/pci.json, qapi/machine.json).

    /// <summary>Adds a device; <paramref name="properties"/> are its driver, id and qdev properties, open-ended as in QEMU.</summary>
    public static Task DeviceAddAsync(
        this QmpClient qmp, IReadOnlyDictionary<string, object> properties, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("device_add", properties, ct, timeout);

    /// <summary>Asks the guest to let go of device <paramref name="id"/>; DEVICE_DELETED says when it did.</summary>
    public static Task DeviceDelAsync(this QmpClient qmp, string id, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("device_del", new { id }, ct, timeout);

    public static Task NetdevAddAsync(
        this QmpClient qmp, IReadOnlyDictionary<string, object> options, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("netdev_add", options, ct, timeout);

    /// <summary>Hands QEMU <paramref name="descriptor"/> under <paramref name="name"/> (getfd, by SCM_RIGHTS); a netdev then names it.</summary>
    public static Task GetFdAsync(
        this QmpClient qmp, string name, System.Runtime.InteropServices.SafeHandle descriptor, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteWithDescriptorAsync("getfd", new { fdname = name }, descriptor, ct, timeout);

    public static Task CloseFdAsync(this QmpClient qmp, string name, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("closefd", new { fdname = name }, ct, timeout);

    public static Task NetdevDelAsync(this QmpClient qmp, string id, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("netdev_del", new Dictionary<string, object> { ["id"] = id }, ct, timeout);

    public static async Task<IReadOnlyList<QmpPciDevice>> QueryPciAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpPciDevice.ListFrom(await qmp.ExecuteAsync("query-pci", null, ct, timeout).ConfigureAwait(false));

    public static async Task<IReadOnlyList<QmpCpuSlot>> QueryHotpluggableCpusAsync(
        this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpCpuSlot.ListFrom(await qmp.ExecuteAsync("query-hotpluggable-cpus", null, ct, timeout).ConfigureAwait(false));
}
