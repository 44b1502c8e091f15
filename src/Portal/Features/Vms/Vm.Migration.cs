namespace Paddock.Portal.Features.Vms;

/// <summary>Where a live migration stands, as the portal drives it: each step is one command to one of the two hosts.</summary>
public enum MigrationStep
{
    /// <summary>The destination makes the VM's disks and starts its QEMU waiting for the stream.</summary>
    Preparing,

    /// <summary>The source mirrors the disks and moves the memory.</summary>
    Moving,

    /// <summary>The destination runs the guest that arrived; the source's copy stays stopped until it does.</summary>
    Finishing,

    /// <summary>Called off: the source runs the VM again and the destination is cleaned.</summary>
    Cancelling,
}

/// <summary>
/// A live migration under way: from which host to which (both hold the VM's allocation until it
/// ends), who asked, and the token its channels meet by at the portal. Its id is the task's.
/// </summary>
/// <remarks><paramref name="Figures"/> are QEMU's, once the source has moved the VM.</remarks>
public sealed record VmMigration(
    Guid Id, Guid FromHostId, string FromHost, Guid ToHostId, string ToHost, string Token, MigrationStep Step, Guid By, DateTimeOffset StartedAt,
    Engine.Recipes.MigrationFigures? Figures = null, int? MaxBandwidthMiBps = null, string? Portal = null);

/// <summary>An admin started moving the VM to <paramref name="ToHostId"/>; the task <paramref name="MigrationId"/> is requested beside it.</summary>
/// <remarks>
/// <paramref name="MaxBandwidthMiBps"/> caps the memory stream, as the admin asked (null: no cap).
/// <paramref name="Portal"/> is the portal process where the channels meet (<see cref="PortalOptions.DirectUrl"/> of the one that started it; null: each agent's own).
/// </remarks>
public sealed record VmMigrationStarted(
    Guid MigrationId, Guid FromHostId, string FromHost, Guid ToHostId, string ToHost, string Token, Guid By, DateTimeOffset At, int? MaxBandwidthMiBps = null,
    string? Portal = null);

public sealed record VmMigrationStepped(Guid MigrationId, MigrationStep Step, DateTimeOffset At, Engine.Recipes.MigrationFigures? Figures = null);

/// <summary>The VM runs on <paramref name="ToHostId"/> now; the task's completion follows with the figures.</summary>
public sealed record VmMigrated(Guid MigrationId, Guid ToHostId, string ToHost, DateTimeOffset At);

public sealed partial class Vm
{
    /// <summary>The live migration under way, if one; it ends with its task's completion.</summary>
    public VmMigration? Migration { get; set; }

    public void Apply(VmMigrationStarted e)
    {
        Migration = new VmMigration(e.MigrationId, e.FromHostId, e.FromHost, e.ToHostId, e.ToHost, e.Token, MigrationStep.Preparing, e.By, e.At,
            MaxBandwidthMiBps: e.MaxBandwidthMiBps, Portal: e.Portal);
        UpdatedAt = e.At;
    }

    public void Apply(VmMigrationStepped e)
    {
        if (Migration?.Id == e.MigrationId)
        {
            Migration = Migration with { Step = e.Step, Figures = e.Figures ?? Migration.Figures };
        }

        UpdatedAt = e.At;
    }

    public void Apply(VmMigrated e)
    {
        HostId = e.ToHostId;
        PlacedOn = e.ToHost;
        PassedOver = [];
        PassedOverOthers = 0;
        Status = VmStatus.Running;
        LastObserved = Engine.Contract.VmPowerState.Running;
        ObservedAt = null;
        StatusDetail = null;
        UpdatedAt = e.At;
    }
}
