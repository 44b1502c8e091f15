using System.Security.Claims;
using Marten;
using Paddock.Engine.Vms;

namespace Paddock.Portal.Features.Vms;

/// <summary>A VM to create from template <paramref name="TemplateId"/> (the built-in one when null) with a disk of <paramref name="DiskMiB"/> (the template's size when null).</summary>
/// <remarks>With <paramref name="ImageId"/> the VM comes from the image library instead: a linked clone of a disk image, or a blank disk with an ISO in its CD-ROM drive to install from.</remarks>
/// <remarks>
/// With <paramref name="FlavorId"/> the flavor's sizes are used and the others ignored. With
/// <paramref name="GroupId"/> the VM is shared with that group at once and counts against its quota
/// too. <paramref name="LeaseMinutes"/> sets when the VM expires; without it a VM expires only where
/// an admin set a maximum lease. Without <paramref name="Start"/> the VM is created Stopped.
/// <paramref name="Nics"/> says where each NIC goes; without it the VM has one NIC, on its owner's default network.
/// <paramref name="Guest"/> sets up the guest through cloud-init, for a template whose guests read it.
/// </remarks>
public sealed record NewVm(
    string Name, int VCpus, int MemoryMiB, Guid? TemplateId = null, int? DiskMiB = null, Guid? ImageId = null,
    Guid? FlavorId = null, Guid? GroupId = null, int? LeaseMinutes = null, bool Start = true, IReadOnlyList<Networks.NicChoice>? Nics = null,
    GuestSetup? Guest = null);

/// <summary>A VM worked out from a <see cref="NewVm"/>: what <see cref="VmService.DefineAsync"/> creates.</summary>
public sealed record VmDefinition(
    string Name, string TemplateName, string BaseImage, int VCpus, int MemoryMiB, long DiskBytes,
    Guid? TemplateId = null, (string Image, string Name)? Cdrom = null, Guid? FlavorId = null, string? FlavorName = null,
    Guid? GroupId = null, TimeSpan? Lease = null, bool Start = true, ResourceLimits? Limits = null, string? Accelerator = null,
    IReadOnlyList<Networks.NicChoice>? Nics = null, Paddock.Engine.Guests.CloudInitConfig? CloudInit = null, bool GuestAgent = false);

/// <summary>What a create would make, and why (if at all) it needs an admin's approval.</summary>
public sealed record VmPlan(VmDefinition Definition, IReadOnlyList<string> NeedsApproval);

/// <summary>A VM that <paramref name="Actor"/> defines for <paramref name="Owner"/>: what <see cref="VmService.DefineAsync"/> creates, in one transaction with its admission.</summary>
/// <param name="CloneOf">The stopped VM whose disks the new one copies, on its host; null for a create from a template or image.</param>
public sealed record VmCreation(ClaimsPrincipal Actor, Guid Owner, VmDefinition Definition, Vm? CloneOf = null)
{
    /// <summary>What the caller records in the same transaction, given the new VM's id, such as a request's approval.</summary>
    public Func<IDocumentSession, Guid, Task>? AlsoInTransaction { get; init; }

    /// <summary>An admin's approval raises the owner's (and group's) limits just enough, in the same transaction, for <see cref="Reason"/>.</summary>
    public bool RaiseQuota { get; init; }

    /// <summary>Why the quota was raised, for the audit log.</summary>
    public string? Reason { get; init; }

    /// <summary>The approval request the VM was created for, if any.</summary>
    public Guid? RequestId { get; init; }
}
