using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Templates;

public enum TemplateState
{
    /// <summary>A built-in template whose image is still being built (the Debian one, in the background of <c>./paddock up</c>).</summary>
    Building,
    /// <summary>The VM's disk is being flattened into the template's image.</summary>
    Converting,
    Ready,
    /// <summary>Being deleted: no new VM may be made from it.</summary>
    Deleting,
}

/// <summary>
/// A read-only base image with the defaults of the VMs made from it. New VMs are linked clones: a
/// qcow2 overlay on <see cref="Image"/>, so the template's image must stay as long as one exists.
/// </summary>
public sealed class VmTemplate
{
    /// <summary>Paddock's own owner id, for the built-in template.</summary>
    public static readonly Guid System = Guid.Empty;

    /// <summary>The built-in template's id: fixed, so every portal process agrees on it.</summary>
    public static readonly Guid BuiltinId = new("0d0c0000-0000-4000-8000-000000000001");

    /// <summary>The built-in "Debian 12 (cloud)" template's id, fixed like <see cref="BuiltinId"/>.</summary>
    public static readonly Guid DebianId = new("0d0c0000-0000-4000-8000-000000000002");

    public Guid Id { get; set; }

    public string Name { get; set; } = "";

    public string Description { get; set; } = "";

    public Guid OwnerId { get; set; }

    public Sharing Visibility { get; set; }

    public Guid? GroupId { get; set; }

    public int VCpus { get; set; }

    public int MemoryMiB { get; set; }

    public long DiskBytes { get; set; }

    /// <summary>An admin's mark: a member's VM from this template becomes a request for an admin to approve.</summary>
    public bool NeedsApproval { get; set; }

    /// <summary>The longest lease a VM from this template may have; null for no maximum.</summary>
    public TimeSpan? MaxLease { get; set; }

    /// <summary>
    /// File name of the image: in the portal's library (named by its checksum) for a converted
    /// template, which hosts fetch when they need it; in every host's store for the built-in one.
    /// </summary>
    public string Image { get; set; } = "";

    /// <summary>The host the template was made on.</summary>
    public Guid? HostId { get; set; }

    public TemplateState State { get; set; }

    public string? LastError { get; set; }

    public long? ImageBytes { get; set; }

    public string? Sha256 { get; set; }

    /// <summary>The VM that became this template.</summary>
    public Guid? SourceVmId { get; set; }

    /// <summary>The conversion under way.</summary>
    public Guid? PendingOperation { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Its guests read a cloud-init NoCloud seed: VMs from it take a hostname, a user, SSH keys and user-data at create.</summary>
    public bool CloudInit { get; set; }

    /// <summary>Its guests run the QEMU guest agent: VMs from it get the agent's channel.</summary>
    public bool GuestAgent { get; set; }

    /// <summary>Paddock's own: the busybox one (its image on every host) and the Debian one (in the library once built).</summary>
    public bool IsBuiltin => Id == BuiltinId || Id == DebianId;
}

/// <summary>Published to live pages when a template changed.</summary>
public sealed record TemplateChanged(Guid TemplateId);
