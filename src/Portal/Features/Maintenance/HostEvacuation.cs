namespace Paddock.Portal.Features.Maintenance;

/// <summary>Which way an evacuation moves VMs: off the host entering maintenance, or back onto the host that left it.</summary>
public enum EvacuationKind
{
    Evacuate,
    BringBack,
}

public enum EvacuationState
{
    Running,

    /// <summary>Cancelled by an admin: no new move starts, moves in flight are called off where they still can be.</summary>
    Cancelling,

    Done,

    Cancelled,
}

/// <summary>What the evacuation does with one VM.</summary>
public enum EvacuationIntent
{
    /// <summary>Live-migrate it (off the host, or back onto it).</summary>
    Move,

    /// <summary>Shut it down where it is: an admin's choice for a VM that could not move.</summary>
    ShutDown,
}

public enum EvacuationItemState
{
    Waiting,
    Moving,
    Moved,
    ShuttingDown,
    ShutDown,
    Failed,

    /// <summary>Left as it is: cancelled before its turn, stopped or deleted meanwhile.</summary>
    Skipped,
}

/// <summary>
/// One VM of an evacuation and how far it got. <paramref name="Attempts"/> counts the moves (or
/// shutdowns) started; <paramref name="NotBefore"/> is when a failed one may be tried again;
/// <paramref name="ToHost"/> where it is moving or moved to; <paramref name="Reason"/> why it failed,
/// was skipped, or why the last attempt did not work.
/// </summary>
public sealed record EvacuationItem(
    Guid VmId, string Name, EvacuationIntent Intent, EvacuationItemState State = EvacuationItemState.Waiting, int Attempts = 0,
    Guid? MigrationId = null, string? ToHost = null, string? Reason = null, DateTimeOffset? NotBefore = null)
{
    public bool Ended => State is EvacuationItemState.Moved or EvacuationItemState.ShutDown or EvacuationItemState.Failed or EvacuationItemState.Skipped;
}

/// <summary>
/// A host's latest evacuation (or bring-back), one document per host (its id), stored again
/// version-checked by every step: a portal that restarts carries on from it, and two portal
/// processes cannot both take the same step. It acts in the name of the admin who started it.
/// </summary>
public sealed class HostEvacuation
{
    /// <summary>The host's id.</summary>
    public Guid Id { get; set; }

    public string HostName { get; set; } = "";

    public EvacuationKind Kind { get; set; }

    public EvacuationState State { get; set; }

    /// <summary>How many VMs move at once.</summary>
    public int Concurrency { get; set; }

    /// <summary>How many times a VM that failed to move (or to shut down) is tried again before it is reported failed.</summary>
    public int Retries { get; set; }

    /// <summary>The admin who started it, in whose name it moves and shuts down VMs.</summary>
    public Guid ById { get; set; }

    public string ByName { get; set; } = "";

    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset? EndedAt { get; set; }

    /// <summary>Why it ended early, when it did (cancelled by whom, its admin no longer one).</summary>
    public string? Note { get; set; }

    /// <summary>The VMs, in the order they move: the same order the plan placed them in.</summary>
    public List<EvacuationItem> Items { get; set; } = [];

    public bool Active => State is EvacuationState.Running or EvacuationState.Cancelling;
}
