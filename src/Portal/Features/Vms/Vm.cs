using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// A snapshot inside the VM's disks: with its memory (taken while it ran) or of its disks only.
/// <paramref name="Parent"/> is the snapshot the VM was at when this one was taken, which makes the snapshots a tree.
/// </summary>
public sealed record VmSnapshot(string Name, bool WithMemory, DateTimeOffset TakenAt, string? Parent = null, long? StateBytes = null, bool Quiesced = false);

/// <summary>A hardware change in flight: the sizes it brings (vCPUs, all disks together).</summary>
public sealed record PendingHardware(Guid OperationId, int VCpus, long DiskBytes);

/// <summary>A save or a memory snapshot under way: the bytes its state may take, held until it is done.</summary>
public sealed record PendingState(Guid OperationId, long Bytes);

public enum VmStatus
{
    Creating,
    Starting,
    Running,
    Paused,
    ShuttingDown,
    Stopping,
    Stopped,
    Crashed,
    Deleting,
    Saving,
    Saved,
    Restoring,
    Converting,
    Unknown,
    Migrating,
}

/// <summary>
/// The VM document pages read. Never written directly: Marten projects it inline from the VM's
/// event stream, so a page sees its own write at once.
/// </summary>
public sealed partial class Vm : IVmFootprint
{
    public Guid Id { get; set; }

    public Guid OwnerId { get; set; }

    public string Name { get; set; } = "";

    public string TemplateName { get; set; } = "";

    public string BaseImage { get; set; } = "";

    public int VCpus { get; set; }

    public int MemoryMiB { get; set; }

    public long DiskBytes { get; set; }

    public string MachineType { get; set; } = "";

    public Guid HostId { get; set; }

    public int LabelIndex { get; set; }

    public int Uid { get; set; }

    public string Mac { get; set; } = "";

    /// <summary>The first NIC's tenant network and address; null when it is on isolated user-mode NAT.</summary>
    public Paddock.Engine.Networks.NicNetwork? Network { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The template whose image this VM's disk is an overlay of (a linked clone); null for full copies.</summary>
    public Guid? TemplateId { get; set; }

    /// <summary>What the VM's disk file takes on the host, snapshots included, as last measured.</summary>
    public long? DiskAllocatedBytes { get; set; }

    /// <summary>The group whose members may use the VM besides its owner, if any.</summary>
    public Guid? GroupId { get; set; }

    /// <summary>Disks added after creation, beside the boot disk.</summary>
    public List<VmDisk> ExtraDisks { get; set; } = [];

    /// <summary>NICs added after creation, beside the first one.</summary>
    public List<VmNic> ExtraNics { get; set; } = [];

    /// <summary>The ISO in the CD-ROM drive (a file name in the hosts' image stores), or null when it is empty.</summary>
    public string? Cdrom { get; set; }

    /// <summary>That ISO's name in the library, for people.</summary>
    public string? CdromName { get; set; }

    /// <summary>The VM this one was cloned from, if it was.</summary>
    public Guid? ClonedFrom { get; set; }

    public VmStatus Status { get; set; }

    public string? StatusDetail { get; set; }

    /// <summary>The root ports its devices sit in on its host, as the host last reported them (sent back with its spec).</summary>
    public Dictionary<string, string>? DevicePorts { get; set; }

    public Guid? PendingOperation { get; set; }

    public VmVerb? PendingVerb { get; set; }

    public string? LastError { get; set; }

    /// <summary>What the agent last reported, to fall back on when a task fails half-way.</summary>
    public VmPowerState? LastObserved { get; set; }

    /// <summary>When its host saw <see cref="LastObserved"/>, by the host's clock (null once it moved to another host).</summary>
    public DateTimeOffset? ObservedAt { get; set; }

    /// <summary>Size of the saved state while the VM is Saved.</summary>
    public long? SavedBytes { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public VmSettings Settings { get; set; } = VmSettings.Default;

    public List<VmSnapshot> Snapshots { get; set; } = [];

    /// <summary>The snapshot the VM last went back to or took: what a revert would return to.</summary>
    public string? CurrentSnapshot { get; set; }

    /// <summary>The host placement chose, and why each other host was passed over (admins see it).</summary>
    public string? PlacedOn { get; set; }

    public List<Placement.PassedOver> PassedOver { get; set; } = [];

    /// <summary>How many more hosts were passed over than <see cref="PassedOver"/> names.</summary>
    public int PassedOverOthers { get; set; }

    /// <summary>Noisy-neighbour limits from the VM's flavor.</summary>
    public ResourceLimits Limits { get; set; } = ResourceLimits.None;

    /// <summary>Which limits the agent applied and which it could not, as it last said.</summary>
    public string? LimitsNote { get; set; }

    /// <summary>How the host's record of the VM's label and uid disagrees with the portal's, until an admin resolves it; null when they agree.</summary>
    public string? IsolationAlert { get; set; }

    public DateTimeOffset? IsolationAlertAt { get; set; }

    /// <summary>The size an admin set for the guest through its balloon; null for all its memory.</summary>
    public int? BalloonTargetMiB { get; set; }

    /// <summary>A hardware change asked for and not yet done.</summary>
    public PendingHardware? PendingHardware { get; set; }

    /// <summary>A save or a memory snapshot asked for and not yet done.</summary>
    public PendingState? PendingState { get; set; }

    // What quotas and placement count (explicit, so that the document does not store them).
    long IVmFootprint.AllDisksBytes => DiskBytes + ExtraDisks.Sum(d => d.SizeBytes);

    long IVmFootprint.StateBytes => StateBytesOf(this);

    (int VCpus, long DiskBytes)? IVmFootprint.Pending => PendingHardware is { } pending ? (pending.VCpus, pending.DiskBytes) : null;

    /// <summary>The VM's states on its host, counted against the disk quota beside its disks.</summary>
    public static long StateBytesOf(Vm vm) =>
        (vm.SavedBytes ?? 0) + vm.Snapshots.Sum(s => s.StateBytes ?? 0) + (vm.PendingState?.Bytes ?? 0);

    /// <summary>Every NIC of the VM, the first (net0: the VM's own MAC and network) first.</summary>
    public static IReadOnlyList<VmNic> NicsOf(Vm vm) => [new VmNic("net0", vm.Mac, vm.Network), .. vm.ExtraNics];

    /// <summary>Whether a NIC of the VM is on a tenant network: only a host that lays them out can carry it.</summary>
    public static bool OnTenantNetwork(Vm vm) => NicsOf(vm).Any(n => n.Network is not null);

    /// <summary>The flavor the VM was created with, if one.</summary>
    public Guid? FlavorId { get; set; }

    public string? FlavorName { get; set; }

    /// <summary>The request the VM was created for, if an admin approved one.</summary>
    public Guid? RequestId { get; set; }

    /// <summary>When the lease ends; null when it never does.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>When the owner was told the lease is about to end.</summary>
    public DateTimeOffset? ExpiryNoticeAt { get; set; }

    /// <summary>When the lease ended and the VM was shut down; null while it has not.</summary>
    public DateTimeOffset? ExpiredAt { get; set; }

    /// <summary>When an expired VM is deleted, unless its lease is extended first.</summary>
    public DateTimeOffset? DeleteAfter { get; set; }

    /// <summary>Stream version, for optimistic appends.</summary>
    public int Version { get; set; }

    public string Label => IsolationLabels.FromIndex(LabelIndex).ToString();

    public static Vm Create(VmCreated e) => new()
    {
        Id = e.VmId,
        OwnerId = e.OwnerId,
        Name = e.Name,
        TemplateName = e.TemplateName,
        BaseImage = e.BaseImage,
        VCpus = e.VCpus,
        MemoryMiB = e.MemoryMiB,
        DiskBytes = e.DiskBytes,
        MachineType = e.MachineType,
        HostId = e.HostId,
        LabelIndex = e.LabelIndex,
        Uid = e.Uid,
        Mac = e.Mac,
        Network = e.Network,
        ExtraNics = [.. e.ExtraNics ?? []],
        CreatedAt = e.At,
        ClonedFrom = e.ClonedFrom,
        TemplateId = e.TemplateId,
        Cdrom = e.Cdrom,
        CdromName = e.CdromName,
        GroupId = e.GroupId,
        FlavorId = e.FlavorId,
        FlavorName = e.FlavorName,
        ExpiresAt = e.ExpiresAt,
        RequestId = e.RequestId,
        Limits = e.Limits ?? ResourceLimits.None,
        CloudInit = e.CloudInit,
        GuestAgent = e.GuestAgent,
        UpdatedAt = e.At,
        Status = VmStatus.Creating,
    };

    public void Apply(VmOperationRequested e)
    {
        UpdatedAt = e.At;
        if (e.StateBytes is { } bytes)
        {
            PendingState = new PendingState(e.OperationId, bytes);
        }

        if (!VerbRules.Occupies(e.Verb))
        {
            return;
        }

        PendingOperation = e.OperationId;
        PendingVerb = e.Verb;
        LastError = null;
        Status = e.Verb switch
        {
            VmVerb.Create => VmStatus.Creating,
            VmVerb.Start => VmStatus.Starting,
            VmVerb.Shutdown => VmStatus.ShuttingDown,
            VmVerb.PowerOff => VmStatus.Stopping,
            VmVerb.Delete => VmStatus.Deleting,
            VmVerb.Save => VmStatus.Saving,
            VmVerb.Restore => VmStatus.Restoring,
            VmVerb.ConvertToTemplate => VmStatus.Converting,
            VmVerb.MigrateOut => VmStatus.Migrating,
            _ => Status,
        };
    }

    public void Apply(VmStatusObserved e)
    {
        UpdatedAt = e.At;
        StatusDetail = e.Detail;
        SavedBytes = e.SavedBytes;
        DevicePorts = e.Ports is { Count: > 0 } ports ? new Dictionary<string, string>(ports) : DevicePorts;
        LastObserved = e.State;
        ObservedAt = e.At;
        LimitsNote = e.Limits ?? LimitsNote;
        Status = VmRules.StatusAfterObservation(this, e.State);
    }

    public void Apply(VmOperationCompleted e)
    {
        UpdatedAt = e.At;
        DiskAllocatedBytes = e.Result?.DiskBytes ?? DiskAllocatedBytes;
        var current = PendingOperation == e.OperationId;
        if (PendingHardware?.OperationId == e.OperationId)
        {
            PendingHardware = null;
        }

        if (PendingState?.OperationId == e.OperationId)
        {
            PendingState = null;
        }

        if (current)
        {
            PendingOperation = null;
            PendingVerb = null;
        }

        if (Migration?.Id == e.OperationId)
        {
            Migration = null;
        }

        // A task that Power off or Reset interrupted was superseded, not a failure to show.
        if (!e.Succeeded && (current || !VerbRules.Occupies(e.Verb)))
        {
            LastError = $"{VmRules.Describe(e.Verb)} failed: {e.Message}";
            // The task's own status ("Saving") is over: show what the agent last saw.
            Status = LastObserved is { } observed ? VmRules.StatusAfterObservation(this, observed) : VmStatus.Unknown;
        }
    }

    public void Apply(VmGroupChanged e)
    {
        GroupId = e.GroupId;
        UpdatedAt = e.At;
    }

    public void Apply(VmHardwareChanged e)
    {
        VCpus = e.VCpus;
        DiskBytes = e.DiskBytes;
        ExtraDisks = [.. e.ExtraDisks];
        ExtraNics = [.. e.ExtraNics];
        BalloonTargetMiB = e.BalloonTargetMiB;
        UpdatedAt = e.At;
    }

    public void Apply(VmMediumChanged e)
    {
        Cdrom = e.Image;
        CdromName = e.Name;
        UpdatedAt = e.At;
    }

    public void Apply(VmPlaced e)
    {
        PlacedOn = e.HostName;
        PassedOver = [.. e.PassedOver];
        PassedOverOthers = e.PassedOverOthers;
    }

    public void Apply(VmHostUnreachable e)
    {
        Status = VmStatus.Unknown;
        StatusDetail = "Its host stopped reporting; what the VM does is unknown until the host reports again.";
        UpdatedAt = e.At;
    }

    public void Apply(VmHardwareRequested e) => PendingHardware = new PendingHardware(e.OperationId, e.VCpus, e.DiskBytes);

    public void Apply(VmLeaseSet e)
    {
        ExpiresAt = e.ExpiresAt;
        ExpiryNoticeAt = null;
        ExpiredAt = null;
        DeleteAfter = null;
        UpdatedAt = e.At;
    }

    public void Apply(VmLeaseExpiring e) => ExpiryNoticeAt = e.At;

    public void Apply(VmIsolationMismatch e)
    {
        IsolationAlert = e.Detail;
        IsolationAlertAt = e.At;
        UpdatedAt = e.At;
    }

    public void Apply(VmIsolationResolved e)
    {
        IsolationAlert = null;
        IsolationAlertAt = null;
        UpdatedAt = e.At;
    }

    public void Apply(VmExpired e)
    {
        ExpiredAt = e.At;
        DeleteAfter = e.DeleteAfter;
        UpdatedAt = e.At;
    }

    public void Apply(VmSettingsChanged e)
    {
        Settings = e.Settings;
        UpdatedAt = e.At;
    }

    public bool ShouldDelete(VmDeleted e) => true;

    public bool ShouldDelete(VmConvertedToTemplate e) => true;
}
