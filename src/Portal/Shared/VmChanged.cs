namespace Paddock.Portal.Shared;

/// <summary>
/// Published to live pages after a VM's stream changed. Here rather than in Vms because the pages
/// of the features below it (quotas, capacity, templates, isolation) follow VMs too.
/// </summary>
public sealed record VmChanged(Guid VmId, Guid OwnerId);
