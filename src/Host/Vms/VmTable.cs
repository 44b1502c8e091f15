using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>The VMs this host holds, by id: what the operations work on, and what node services and consoles ask about.</summary>
public sealed class VmTable(IOptions<AgentOptions> options)
{
    private readonly ConcurrentDictionary<Guid, VmRuntime> _vms = new();

    public IEnumerable<VmRuntime> All => _vms.Values;

    /// <summary>A runtime for a VM in this host's VMs directory, not yet in the table.</summary>
    public VmRuntime New(Guid id) => new(id, VmPaths.For(options.Value.VmsDir, id));

    public VmRuntime GetOrAdd(Guid id) => _vms.GetOrAdd(id, New);

    public void Add(VmRuntime vm) => _vms[vm.Id] = vm;

    public VmRuntime? Find(Guid id) => _vms.GetValueOrDefault(id);

    public void Remove(Guid id) => _vms.TryRemove(id, out _);

    /// <summary>The specs of the VMs created here.</summary>
    public IEnumerable<VmSpec> Specs() => _vms.Values.Select(v => v.Spec).OfType<VmSpec>();

    /// <summary>The QEMU process of every VM that runs now, for the usage report.</summary>
    public IReadOnlyList<(Guid VmId, int Pid)> RunningProcesses() =>
        [.. _vms.Values.Where(v => v.IsRunning).Select(v => (v.Id, v.Process!.Pid))];

    /// <summary>The pid of the VM's QEMU when one runs here (console sockets must be served by it), else null.</summary>
    public int? QemuPid(Guid vmId) => _vms.TryGetValue(vmId, out var vm) && vm.Process is { IsRunning: true } process ? process.Pid : null;
}
