using System.Globalization;
using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Agents;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// A live migration's rules and its steps, pure over the VM and the step that ended. The portal
/// drives it one command at a time (libvirt's prepare, perform, finish, confirm): the destination
/// prepares, the source moves, the destination runs the guest, the source's copy is removed. The
/// destination runs the guest only after the source said the move is whole and its own guest
/// stands still, so the VM never runs in two places; any failure before that leaves it on the source.
/// </summary>
public static class VmMigrations
{
    /// <summary>Why the VM cannot start moving now, or null.</summary>
    public static string? Refusal(Vm vm, Guid? toHostId) =>
        vm.Migration is not null ? $"The VM is already moving to {vm.Migration.ToHost}."
        : vm.PendingOperation is not null ? $"The VM is busy ({VmRules.Describe(vm.PendingVerb ?? VmVerb.Start).ToLowerInvariant()}); try again when it is done."
        : vm.Status is not (VmStatus.Running or VmStatus.Paused) ? $"Only a running VM migrates live; this one is {VmRules.Describe(vm.Status).ToLowerInvariant()}."
        : vm.IsolationAlert is not null ? "The VM is held by an isolation alert; resolve it first."
        : toHostId == vm.HostId ? "The VM runs on that host already."
        : null;

    /// <summary>Why <paramref name="migration"/> cannot be called off now, or null: once the switchover has begun it is too late.</summary>
    public static string? CancelRefusal(VmMigration migration) => migration.Step == MigrationStep.Finishing
        ? $"The VM is switching over to {migration.ToHost} already; a migration cannot be called off then."
        : null;

    /// <summary>How many disk channels the move takes: one NBD connection per disk.</summary>
    public static int DiskCount(Vm vm) => 1 + vm.ExtraDisks.Count;

    public static MigrationLink LinkOf(VmMigration migration, Vm vm) =>
        new(migration.Id, migration.Token, DiskCount(vm), migration.MaxBandwidthMiBps is { } cap ? cap * 1024L * 1024 : null, migration.Portal);

    /// <summary>The most an admin may cap a migration's memory stream at, MiB/s (beyond it a cap means nothing on today's links).</summary>
    public const int MaxBandwidthMiBps = 100_000;

    /// <summary>Why the bandwidth cap is wrong, or null.</summary>
    public static string? BandwidthProblem(int? mibps) =>
        mibps is < 1 or > MaxBandwidthMiBps ? $"Bandwidth limit: 1 to {MaxBandwidthMiBps} MiB/s, or none." : null;

    /// <summary>One step of the migration for one of its hosts, recorded to be sent in order with the VM's other commands.</summary>
    public static AgentCommand Command(VmVerb verb, Vm vm, Guid hostId, MigrationLink link, DateTimeOffset now, VmSpec? spec = null)
    {
        var operation = Guid.NewGuid();
        return new AgentCommand
        {
            Id = operation,
            VmId = vm.Id,
            HostId = hostId,
            Command = new VmCommand(operation, vm.Id, verb, spec, Migration: link),
            MigrationId = link.MigrationId,
            State = AgentCommandState.Pending,
            CreatedAt = now,
            TraceParent = PortalTracing.Current,
        };
    }

    /// <summary>
    /// What comes after one of the migration's commands ended: the events that record it and the next
    /// commands. An outcome of a migration that already ended (a cleanup, a late answer) changes nothing.
    /// </summary>
    public static MigrationNext Next(Vm? vm, AgentCommand command, OperationReport report, DateTimeOffset now)
    {
        if (vm is not { Migration: { } migration } || migration.Id != command.MigrationId)
        {
            return MigrationNext.Nothing;
        }

        var link = LinkOf(migration, vm);
        AgentCommand To(VmVerb verb) => Command(verb, vm, migration.ToHostId, link, now);
        AgentCommand From(VmVerb verb) => Command(verb, vm, migration.FromHostId, link, now);
        object Ended(bool succeeded, string message, OperationResult? result = null) =>
            new VmOperationCompleted(migration.Id, VmVerb.MigrateOut, succeeded, message, now, result);
        var cancelled = $"Cancelled; the VM runs on {migration.FromHost}.";

        return (command.Command.Verb, report.State == OperationState.Succeeded) switch
        {
            (VmVerb.MigrateIn, true) when migration.Step == MigrationStep.Preparing =>
                new([new VmMigrationStepped(migration.Id, MigrationStep.Moving, now)], [From(VmVerb.MigrateOut)]),
            // Called off as the move ended: the destination's guest never runs, the source's runs on.
            (VmVerb.MigrateOut, true) when migration.Step == MigrationStep.Cancelling =>
                new([Ended(false, cancelled)], [To(VmVerb.Delete), From(VmVerb.CancelMigration)]),
            (VmVerb.MigrateOut, true) =>
                new([new VmMigrationStepped(migration.Id, MigrationStep.Finishing, now, report.Result?.Migration)], [To(VmVerb.FinishMigration)]),
            // Arrived: the source's stopped copy goes (its QEMU ends, its files are removed).
            (VmVerb.FinishMigration, true) =>
                new([new VmMigrated(migration.Id, migration.ToHostId, migration.ToHost, now), Ended(true, Moved(migration, now), new OperationResult(Migration: migration.Figures))],
                    [From(VmVerb.Delete)]),
            // The destination did not take over: it is ended, and the source's guest runs on.
            (VmVerb.FinishMigration, false) =>
                new([Ended(false, Failed(migration, "the destination did not run the guest", report.Message))], [To(VmVerb.Delete), From(VmVerb.CancelMigration)]),
            (VmVerb.MigrateIn or VmVerb.MigrateOut, false) =>
                new([Ended(false, migration.Step == MigrationStep.Cancelling ? cancelled
                    : Failed(migration, command.Command.Verb == VmVerb.MigrateIn ? "the destination could not prepare" : "the move failed", report.Message))],
                    [To(VmVerb.Delete)]),
            _ => MigrationNext.Nothing,
        };
    }

    /// <summary>The task's message when the VM arrived: from where, to where, how long, how long the guest stood still.</summary>
    private static string Moved(VmMigration migration, DateTimeOffset now)
    {
        var total = now - migration.StartedAt;
        var text = string.Create(CultureInfo.InvariantCulture, $"Moved from {migration.FromHost} to {migration.ToHost} in {total.TotalSeconds:0.0} s");
        if (migration.Figures is { } f)
        {
            text += string.Create(CultureInfo.InvariantCulture,
                $"; downtime {f.Downtime.TotalMilliseconds:0} ms (QEMU), memory moved in {f.TotalTime.TotalMilliseconds:0} ms, disks in step after {f.DiskMirrorTime.TotalMilliseconds:0} ms ({f.DiskBytes / (1024 * 1024)} MiB), {f.RamTransferredBytes / (1024 * 1024)} MiB of RAM sent");
        }

        return text + ".";
    }

    private static string Failed(VmMigration migration, string what, string? reason) =>
        $"Not moved to {migration.ToHost}: {what}{(string.IsNullOrWhiteSpace(reason) ? "" : $" ({reason.TrimEnd('.')})")}. The VM runs on {migration.FromHost}.";
}

/// <summary>What a migration's step leads to: events for the VM's stream, commands for its hosts.</summary>
public sealed record MigrationNext(IReadOnlyList<object> Events, IReadOnlyList<AgentCommand> Commands)
{
    public static readonly MigrationNext Nothing = new([], []);
}
