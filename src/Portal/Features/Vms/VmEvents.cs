using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms;

// The history of a VM. Each event says who and when; the Vm document is their projection.

public sealed record VmCreated(
    Guid VmId,
    Guid OwnerId,
    string Name,
    string TemplateName,
    string BaseImage,
    int VCpus,
    int MemoryMiB,
    long DiskBytes,
    string MachineType,
    Guid HostId,
    int LabelIndex,
    int Uid,
    string Mac,
    Guid By,
    DateTimeOffset At,
    Guid? ClonedFrom = null,
    Guid? TemplateId = null,
    string? Cdrom = null,
    string? CdromName = null,
    Guid? GroupId = null,
    Guid? FlavorId = null,
    string? FlavorName = null,
    DateTimeOffset? ExpiresAt = null,
    Guid? RequestId = null,
    Paddock.Engine.Vms.ResourceLimits? Limits = null,
    Paddock.Engine.Networks.NicNetwork? Network = null,
    IReadOnlyList<VmNic>? ExtraNics = null,
    Paddock.Engine.Guests.CloudInitConfig? CloudInit = null,
    bool GuestAgent = false);

/// <param name="StateBytes">For a save or a snapshot with memory: the bytes its state may take on the host, held against the quota until it is done.</param>
public sealed record VmOperationRequested(Guid OperationId, VmVerb Verb, Guid By, DateTimeOffset At, long? StateBytes = null);

public sealed record VmStatusObserved(
    VmPowerState State, string? Detail, DateTimeOffset At, long? SavedBytes = null, string? Limits = null, IReadOnlyDictionary<string, string>? Ports = null);

public sealed record VmOperationCompleted(Guid OperationId, VmVerb Verb, bool Succeeded, string? Message, DateTimeOffset At, OperationResult? Result = null);

public sealed record VmDeleted(Guid By, DateTimeOffset At);

/// <param name="Quiesced">The guest agent froze the guest's file systems around it: its disks are consistent.</param>
public sealed record VmSnapshotTaken(string Name, bool WithMemory, Guid OperationId, DateTimeOffset At, long? StateBytes = null, bool Quiesced = false);

public sealed record VmSnapshotReverted(string Name, Guid OperationId, DateTimeOffset At);

public sealed record VmSnapshotDeleted(string Name, Guid OperationId, DateTimeOffset At);

/// <summary>The VM became template <paramref name="TemplateId"/>: its disk is the template's image now, the VM is gone.</summary>
public sealed record VmConvertedToTemplate(Guid TemplateId, Guid By, DateTimeOffset At);

/// <summary>The CD-ROM drive now holds <paramref name="Image"/> (named <paramref name="Name"/> in the library), or nothing.</summary>
public sealed record VmMediumChanged(string? Image, string? Name, Guid OperationId, DateTimeOffset At);

/// <summary>The VM's hardware after a change: its vCPUs, its boot disk's size, and the disks and NICs added since it was created.</summary>
public sealed record VmHardwareChanged(int VCpus, long DiskBytes, IReadOnlyList<VmDisk> ExtraDisks, IReadOnlyList<VmNic> ExtraNics, Guid OperationId, DateTimeOffset At, int? BalloonTargetMiB = null);

/// <summary>The VM is shared with group <paramref name="GroupId"/> now, or with none.</summary>
public sealed record VmGroupChanged(Guid? GroupId, Guid By, DateTimeOffset At);

/// <summary>
/// Placement chose <paramref name="HostId"/>; <paramref name="PassedOver"/> says why other hosts were
/// not chosen (at most <see cref="Placement.PlacementDecision.KeptPassedOver"/>, the runners-up
/// first), and <paramref name="PassedOverOthers"/> how many more were passed over.
/// </summary>
public sealed record VmPlaced(Guid HostId, string HostName, IReadOnlyList<Placement.PassedOver> PassedOver, DateTimeOffset At, int PassedOverOthers = 0);

/// <summary>The VM's host stopped reporting: what the VM does is unknown until it reports again.</summary>
public sealed record VmHostUnreachable(Guid HostId, DateTimeOffset At);

/// <summary>A hardware change was asked for: until it is done the VM counts against quotas at the bigger of both sizes.</summary>
public sealed record VmHardwareRequested(Guid OperationId, int VCpus, long DiskBytes, DateTimeOffset At);

/// <summary>The VM's lease ends at <paramref name="ExpiresAt"/> now (null: it never expires), for example after an extension.</summary>
public sealed record VmLeaseSet(DateTimeOffset? ExpiresAt, Guid By, DateTimeOffset At, Guid? RequestId = null);

/// <summary>The owner was told that the lease ends at <paramref name="ExpiresAt"/>.</summary>
public sealed record VmLeaseExpiring(DateTimeOffset ExpiresAt, DateTimeOffset At);

/// <summary>The lease ended: the VM is shut down and kept, its disks deleted after <paramref name="DeleteAfter"/> unless the lease is extended.</summary>
public sealed record VmExpired(DateTimeOffset ExpiresAt, DateTimeOffset DeleteAfter, DateTimeOffset At);

/// <summary>
/// What the VM's host reported of its label and uid disagrees with the portal's record (for
/// example after the agent restarted on a record changed behind the portal's back): the VM is not
/// started again until an admin resolves it.
/// </summary>
public sealed record VmIsolationMismatch(string Detail, DateTimeOffset At);

/// <summary>An admin resolved the mismatch: the host was sent the portal's record again.</summary>
public sealed record VmIsolationResolved(Guid By, string ByName, DateTimeOffset At);

public sealed record VmSettingsChanged(VmSettings Settings, Guid By, DateTimeOffset At);

/// <summary>The guest's cloud-init setup was edited: its host makes the seed again at the next start, with a new revision, so cloud-init runs again.</summary>
public sealed record VmGuestSetupChanged(Paddock.Engine.Guests.CloudInitConfig CloudInit, Guid By, DateTimeOffset At);

