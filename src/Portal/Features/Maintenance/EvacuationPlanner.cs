using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Maintenance;

// Here "Placement" alone would name the feature's namespace.
using Placement = Paddock.Portal.Features.Placement.Placement;

/// <summary>A running VM the evacuation moves, and the host placement would pick for it now (or is moving it to already).</summary>
public sealed record PlannedMove(Guid VmId, string Name, long MemoryMiB, string ToHost);

/// <summary>A running VM that blocks the evacuation, and why: it cannot move now, or no other host has room for it.</summary>
public sealed record BlockedVm(Guid VmId, string Name, string Reason);

/// <summary>A VM that stays on the host as it is, with its status: live migration moves running VMs only.</summary>
public sealed record StayingVm(Guid VmId, string Name, string Status);

/// <summary>What entering maintenance with an evacuation would do with each VM on the host.</summary>
public sealed record EvacuationPlan(Guid HostId, string Host, IReadOnlyList<PlannedMove> Moves, IReadOnlyList<BlockedVm> Blocked, IReadOnlyList<StayingVm> Stays);

/// <summary>
/// Plans an evacuation without changing anything: the host's running VMs are placed one after the
/// other on the other hosts with the placement rules a migration uses, each booked before the next
/// is placed, so the plan says which VM would find no room once the ones before it moved.
/// </summary>
public static class EvacuationPlanner
{
    public static EvacuationPlan Plan(HostView host, IReadOnlyList<HostView> hosts, IEnumerable<Vm> vms, Weigher weigher, string templateImage)
    {
        var others = hosts.Where(h => h.Id != host.Id).ToList();
        var moves = new List<PlannedMove>();
        var blocked = new List<BlockedVm>();
        var stays = new List<StayingVm>();
        // The smallest first: the fewest VMs are left without room (and the evacuation moves them in this order).
        foreach (var vm in vms.Where(v => v.HostId == host.Id).OrderBy(v => v.MemoryMiB).ThenBy(v => v.VCpus).ThenBy(v => v.Name, StringComparer.Ordinal))
        {
            if (Evacuations.Stopped(vm))
            {
                stays.Add(new StayingVm(vm.Id, vm.Name, VmRules.Describe(vm.Status)));
            }
            else if (vm.Migration is { } migration)
            {
                // On its way already (its destination is booked): the evacuation follows that move.
                moves.Add(new PlannedMove(vm.Id, vm.Name, vm.MemoryMiB, migration.ToHost));
            }
            else if (VmMigrations.Refusal(vm, null) is { } refusal)
            {
                blocked.Add(new BlockedVm(vm.Id, vm.Name, refusal));
            }
            else
            {
                var request = ResourcesOf(vm);
                var decision = Placement.Decide(
                    others, request, weigher, installedImage: vm.BaseImage == templateImage ? templateImage : null, tenantNetworks: Vm.OnTenantNetwork(vm));
                if (decision.Chosen is { } chosen)
                {
                    others[others.IndexOf(chosen)] = chosen with { Allocated = chosen.Allocated + request };
                    moves.Add(new PlannedMove(vm.Id, vm.Name, vm.MemoryMiB, chosen.Name));
                }
                else
                {
                    blocked.Add(new BlockedVm(vm.Id, vm.Name, Shortfall(others, request, decision)));
                }
            }
        }

        return new EvacuationPlan(host.Id, host.Name, moves, blocked, stays);
    }

    /// <summary>What a VM takes on a host: what it counts against its owner's quota.</summary>
    public static Resources ResourcesOf(Vm vm)
    {
        var usage = QuotaService.UsageOf(vm);
        return new Resources(usage.VCpus, usage.MemoryMiB, usage.DiskMiB);
    }

    /// <summary>Why no other host takes the VM, naming the resource none has enough of ("no other host has 512 MiB of memory free").</summary>
    public static string Shortfall(IReadOnlyList<HostView> others, Resources request, PlacementDecision decision)
    {
        if (others.Count == 0)
        {
            return "there is no other host";
        }

        // Hosts that would take a VM at all (not in maintenance, reachable, able to confine it).
        var open = others.Where(h => !h.Maintenance && h.Reachable && h.Unconfined is null).ToList();
        if (open.Count == 0)
        {
            return "no other host takes VMs now (in maintenance, unreachable or unable to confine them)";
        }

        var free = open.Select(Placement.Free).ToList();
        return free.All(f => f.MemoryMiB < request.MemoryMiB) ? $"no other host has {request.MemoryMiB} MiB of memory free"
            : free.All(f => f.VCpus < request.VCpus) ? $"no other host has {request.VCpus} vCPU{(request.VCpus == 1 ? "" : "s")} free"
            : free.All(f => f.DiskMiB < request.DiskMiB) ? $"no other host has {QuotaRules.Disk(request.DiskMiB)} of disk free"
            : $"no other host fits it ({decision.Described()})";
    }
}
