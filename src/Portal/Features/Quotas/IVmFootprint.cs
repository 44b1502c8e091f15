using Marten;

namespace Paddock.Portal.Features.Quotas;

/// <summary>
/// What a VM takes from its owner's quota and its host, and no more: its sizes, and those of a
/// hardware change asked for and not yet done. The VM document implements it, so that quotas (and
/// placement) need no VM type.
/// </summary>
public interface IVmFootprint
{
    int VCpus { get; }

    int MemoryMiB { get; }

    /// <summary>All its disks together.</summary>
    long AllDisksBytes { get; }

    /// <summary>What its states take on the host: the saved state, the snapshots' memory, and what a save or snapshot under way may take.</summary>
    long StateBytes { get; }

    /// <summary>The vCPUs and disk a hardware change asked for and not yet done takes; null when none is.</summary>
    (int VCpus, long DiskBytes)? Pending { get; }
}

/// <summary>
/// What the VMs counted against a user (the ones they own) or a group (the ones in it) take, all of
/// them and those whose QEMU is up, for the standing shown beside a quota; summed by the database,
/// never read one by one. Vms implements it.
/// </summary>
public interface ICountedVms
{
    Task<(QuotaUsage InUse, QuotaUsage Running)> TotalsAsync(IQuerySession session, Guid id, bool group, CancellationToken ct = default);
}

/// <summary>How many tenant networks a user has that their quota counts (their default network aside), and port forwards. Networks implements it.</summary>
public interface ICountedNetworks
{
    Task<int> OfAsync(IQuerySession session, Guid owner, CancellationToken ct = default);

    /// <summary>The port forwards of the user's VMs.</summary>
    Task<int> PortForwardsOfAsync(IQuerySession session, Guid owner, CancellationToken ct = default);
}
