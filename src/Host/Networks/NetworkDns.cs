using Microsoft.Extensions.Options;
using Paddock.Engine.Networks;
using Paddock.Engine.Vms;

namespace Paddock.Host.Networks;

/// <summary>
/// One dnsmasq per network, in its namespace, with its files in <c>networks/&lt;namespace&gt;/</c> under
/// the data directory (root's, 0755: dnsmasq reads them again as nobody; no VM uid writes there).
/// Members change by rewriting the files and SIGHUP; a changed configuration restarts it.
/// </summary>
public sealed class NetworkDns(IOptions<AgentOptions> options, ILogger<NetworkDns> log)
{
    private readonly string _root = Path.Combine(options.Value.DataDir, "networks");
    private readonly NetworkNames _names = new(options.Value.NetworkPrefix);

    public DnsmasqFiles FilesOf(int vni) => new(Path.Combine(_root, _names.Namespace(vni)));

    public async Task EnsureAsync(PlannedNetwork network, CancellationToken ct)
    {
        var files = FilesOf(network.Layout.Vni);
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(files.Directory);
        SetMode(_root, Traversable);
        SetMode(files.Directory, Traversable);
        var configChanged = await WriteAsync(files.Config, Dnsmasq.Config(network.Layout, files), ct);
        var membersChanged = await WriteAsync(files.DhcpHosts, Dnsmasq.DhcpHosts(network.Members), ct)
            | await WriteAsync(files.Names, Dnsmasq.Names(network.Members), ct);
        var pid = Dnsmasq.RunningPid(files);
        if (pid is { } running && configChanged)
        {
            Dnsmasq.Stop(running);
            await WaitGoneAsync(files, ct);
            pid = null;
        }

        if (pid is null)
        {
            await NetworkTools.RunAsync(Dnsmasq.Start(network.Layout, files), ct: ct);
            log.LogInformation("dnsmasq serves network {Vni} in {Namespace}", network.Layout.Vni, network.Layout.Namespace);
        }
        else if (membersChanged)
        {
            Dnsmasq.Reload(pid.Value);
        }
    }

    public void Stop(int vni)
    {
        if (Dnsmasq.RunningPid(FilesOf(vni)) is { } pid)
            Dnsmasq.Stop(pid);
    }

    /// <summary>Removes the files of networks this host no longer carries.</summary>
    public void RemoveStale(ISet<int> wanted)
    {
        if (!Directory.Exists(_root))
            return;
        foreach (var directory in Directory.EnumerateDirectories(_root))
        {
            if (_names.VniOf(Path.GetFileName(directory), 's') is { } vni && !wanted.Contains(vni))
            {
                Stop(vni);
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private static async Task WaitGoneAsync(DnsmasqFiles files, CancellationToken ct)
    {
        for (var i = 0; i < 100 && Dnsmasq.RunningPid(files) is not null; i++)
            await Task.Delay(20, ct);
    }

    /// <summary>Writes the file whole when its content differs; true when it did.</summary>
    private static async Task<bool> WriteAsync(string path, string text, CancellationToken ct)
    {
        if (File.Exists(path) && await File.ReadAllTextAsync(path, ct) == text)
            return false;
        await RunDirectory.WriteAtomicallyAsync(path, text, ct);
        SetMode(path, Readable);
        return true;
    }

    /// <summary>Tenant networks are Linux's (bridges, namespaces); elsewhere there is nothing to set.</summary>
    private static void SetMode(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, mode);
    }

    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private const UnixFileMode Traversable = Readable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
}
