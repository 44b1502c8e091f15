using JasperFx.Events.Projections;
using Marten;
using Marten.Schema;
using Paddock.Portal.Features.Agents;

namespace Paddock.Portal.Features.Networks;

public static class NetworksExtensions
{
    /// <summary>Tenant networks, their addresses, their streams and documents, and what hosts are told to carry.</summary>
    public static void AddNetworks(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<NetworkOptions>().BindConfiguration(NetworkOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<ChangeNotifier<NetworksChanged>>();
        builder.Services.AddSingleton<NetworkService>();
        builder.Services.AddSingleton<ForwardService>();
        builder.Services.AddSingleton<NetworkPusher>();
        builder.Services.AddHostedService(services => services.GetRequiredService<NetworkPusher>());
        builder.Services.AddSingleton<IHostArrivals>(services => services.GetRequiredService<NetworkPusher>());
        builder.Services.AddSingleton<Quotas.ICountedNetworks, CountedNetworks>();
        builder.Services.ConfigureMarten(options =>
        {
            options.Projections.Snapshot<TenantNetwork>(SnapshotLifecycle.Inline);
            // The database, not this process, keeps names unique per owner, VNIs across the fleet and addresses per network.
            options.Schema.For<TenantNetwork>()
                .UniqueIndex(UniqueIndexType.Computed, "uq_network_owner_name", n => n.OwnerId, n => n.Name)
                .UniqueIndex(UniqueIndexType.Computed, "uq_network_vni", n => n.Vni)
                .Index(n => n.OwnerId);
            options.Schema.For<NicAddress>()
                .UniqueIndex(UniqueIndexType.Computed, "uq_network_address", a => a.NetworkId, a => a.Address)
                .Index(a => a.VmId);
            options.Schema.For<VmForward>()
                .UniqueIndex(UniqueIndexType.Computed, "uq_forward_host_port", f => f.HostId, f => f.Protocol, f => f.HostPort)
                .Index(f => f.VmId)
                .Index(f => f.OwnerId);
        });
    }

    public static void MapNetworks(this WebApplication app) => app.MapNetworkEndpoints();
}
