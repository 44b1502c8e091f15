using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Paddock.Engine.Hosting;
using Paddock.Engine.Images;
using Paddock.Engine.Networks;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;
using Paddock.Host;
using Paddock.Host.Networks;
using Paddock.Host.Vms;

namespace Paddock.Testing;

/// <summary>Puts a paused VM's tap NICs in (by default the agent's <see cref="NetworkTaps.PlugAsync"/>).</summary>
public delegate Task TapPlug(Guid vmId, VmSpec spec, QmpClient qmp, CancellationToken ct);

/// <summary>
/// One "host" of the network proofs without a portal: the agent's own network code (NetworkKeeper,
/// NetworkDns, NetworkTaps) under a prefix of its own, and VMs started the way StartVm starts them
/// (paused, taps handed over by descriptor, then cont), under uids of their own. Shared by the e2e
/// tests (TenantNetworkHostTests) and the network benchmark (<c>./paddock bench net</c>).
/// </summary>
public sealed class NetworkHostHarness : IAsyncDisposable
{
    private readonly List<(QemuProcess Process, QmpClient Qmp)> _qemus = [];

    public NetworkHostHarness(string root, string prefix, int vxlanPort)
    {
        Options = Microsoft.Extensions.Options.Options.Create(new AgentOptions
        {
            PortalUrl = "https://127.0.0.1:1",
            DataDir = Directory.CreateDirectory(Path.Combine(root, prefix)).FullName,
            NetworkPrefix = prefix,
            VxlanPort = vxlanPort,
        });
        Vms = new VmTable(Options);
        Keeper = NewKeeper();
        Taps = new NetworkTaps(Keeper);
    }

    public IOptions<AgentOptions> Options { get; }

    public VmTable Vms { get; }

    public NetworkKeeper Keeper { get; private set; }

    public NetworkTaps Taps { get; private set; }

    /// <summary>What a restarted agent has: a fresh keeper over the same table and files.</summary>
    public NetworkKeeper NewKeeper() => new(Options, Vms, new NetworkDns(Options, NullLogger<NetworkDns>.Instance), NullLogger<NetworkKeeper>.Instance);

    public void Restart()
    {
        Keeper.Dispose();
        Keeper = NewKeeper();
        Taps = new NetworkTaps(Keeper);
    }

    /// <summary>
    /// Boots a VM of the built-in template with one NIC on <paramref name="network"/>; returns its run
    /// directory. <paramref name="plug"/> puts the tap in instead of the agent (the bench's plain bridge).
    /// </summary>
    public async Task<string> StartVmAsync(string imagesDir, int uid, NetworkSpec network, string mac, string address, TapPlug? plug = null)
    {
        var id = Guid.NewGuid();
        var paths = RunDirectory.Create(VmPaths.For(Path.Combine(Options.Value.DataDir, "vms"), id), uid, uid);
        var disk = paths.Disk("vda");
        await new DiskImages().CreateOverlayAsync(Path.Combine(imagesDir, "builtin-busybox.qcow2"), disk);
        RunDirectory.SecureFile(disk, uid, uid);
        var nic = new NicSpec("net0", mac) { Network = new NicNetwork(network, address) };
        var spec = new VmSpec(id, 1, 1, 192, VmSpec.DefaultMachineType, uid, [new DiskSpec("vda", 64L << 20, "builtin-busybox.qcow2")], [nic]);
        Vms.Add(new VmRuntime(id, paths) { Spec = spec });
        var argv = QemuCommandLine.Build(spec, paths, Accelerator.Tcg, new QemuLaunchOptions { StartPaused = true, ImagesDirectory = imagesDir });
        var process = await QemuProcess.StartAsync(id, argv, paths, uid, uid);
        QmpClient qmp;
        try
        {
            qmp = await process.ConnectQmpAsync(CancellationToken.None);
        }
        catch
        {
            process.Kill();
            throw;
        }

        _qemus.Add((process, qmp));
        await (plug ?? Taps.PlugAsync)(id, spec, qmp, CancellationToken.None);
        await qmp.ContAsync();
        return paths.RunDirectory;
    }

    /// <summary>Ends every QEMU and forgets its VM; then nothing here needs a network any more.</summary>
    public async Task StopVmsAsync()
    {
        foreach (var (process, qmp) in _qemus)
        {
            await qmp.DisposeAsync();
            process.Kill();
            if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(10)))
                throw new TimeoutException($"QEMU {process.Pid} did not end within 10 s of SIGKILL.");
        }

        _qemus.Clear();
        foreach (var vm in Vms.All.ToList())
        {
            RunDirectory.Delete(vm.Paths);
            Vms.Remove(vm.Id);
        }
    }

    /// <summary>Every link, namespace, nft table and dnsmasq of this prefix, one per line, sorted: what must neither double nor stay.</summary>
    public async Task<string> InventoryAsync()
    {
        var prefix = Options.Value.NetworkPrefix;
        var links = LinkInventory.ParseLinks(await NetworkTools.RunAsync(IpCommands.ListLinks()))
            .Where(l => l.Name.StartsWith(prefix, StringComparison.Ordinal)).Select(l => $"link {l.Name} {l.Kind} {l.Master}");
        var namespaces = (Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns") : [])
            .Select(Path.GetFileName).Where(n => n!.StartsWith(prefix, StringComparison.Ordinal)).Select(n => $"netns {n}");
        var tables = (await NetworkTools.RunAsync(["nft", "list", "tables"])).Split('\n')
            .Where(t => t.Contains($" {prefix}_", StringComparison.Ordinal)).Select(t => t.Trim());
        var dnsmasq = Process.GetProcessesByName("dnsmasq")
            .Select(p => File.ReadAllText($"/proc/{p.Id}/cmdline").Replace('\0', ' '))
            .Where(c => c.Contains($"/{prefix}/networks/", StringComparison.Ordinal)).Select(c => $"dnsmasq {c.Trim()}");
        return string.Join('\n', links.Concat(namespaces).Concat(tables).Concat(dnsmasq).Order(StringComparer.Ordinal));
    }

    public async ValueTask DisposeAsync()
    {
        await StopVmsAsync();
        try
        {
            await Keeper.ApplyAsync([], CancellationToken.None);
        }
        finally
        {
            Keeper.Dispose();
        }
    }
}
