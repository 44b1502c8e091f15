using JasperFx.Events.Projections;
using Marten;
using Marten.Schema;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms.Create;

namespace Paddock.Portal.Features.Vms;

public static class VmsExtensions
{
    /// <summary>
    /// The VMs, what agents report of them, their leases, and their streams and documents; and
    /// what the features below them ask of the VMs (reports, quota standing, linked clones, image use, the create dialog).
    /// </summary>
    public static void AddVms(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<VmChanged>>();
        builder.Services.AddSingleton<VmService>();
        builder.Services.AddSingleton<VmForwards>();
        builder.Services.AddSingleton<ChangeNotifier<MigrationProgressed>>();
        builder.Services.AddSingleton<MigrationBoard>();
        builder.Services.AddSingleton<ChangeNotifier<WorkReported>>();
        builder.Services.AddSingleton<WorkBoard>();
        builder.Services.AddSingleton<ChangeNotifier<VmStatsAdded>>();
        builder.Services.AddSingleton<VmStatsHistory>();
        builder.Services.AddHostedService(services => services.GetRequiredService<VmStatsHistory>());
        builder.Services.AddSingleton<MigrationRelay>();
        builder.Services.AddSingleton<Hosts.IHostLinks>(services => services.GetRequiredService<MigrationRelay>());
        builder.Services.AddSingleton<VmObservations>();
        builder.Services.AddSingleton<IAgentReports>(services => services.GetRequiredService<VmObservations>());
        builder.Services.AddSingleton<TemplateConversion>();
        builder.Services.AddSingleton<ILinkedClones, LinkedClones>();
        builder.Services.AddSingleton<IVmImageUse, VmImageUse>();
        builder.Services.AddSingleton<ICountedVms, CountedVms>();
        builder.Services.AddSingleton<Networks.INetworkVms, NetworkVms>();
        builder.Services.AddScoped<ICreateVmDialog, CreateVmDialogLauncher>();
        builder.Services.AddSingleton<LeaseKeeper>();
        builder.Services.AddHostedService(services => services.GetRequiredService<LeaseKeeper>());
        builder.Services.AddHostedService<HostWatch>();
        builder.Services.ConfigureMarten(options =>
        {
            options.Projections.Snapshot<Vm>(SnapshotLifecycle.Inline);
            // The database, not this process, keeps names unique per owner and labels unique across the fleet.
            options.Schema.For<Vm>()
                .UniqueIndex(UniqueIndexType.Computed, "uq_vm_owner_name", v => v.OwnerId, v => v.Name)
                .UniqueIndex(UniqueIndexType.Computed, "uq_vm_label", v => v.LabelIndex)
                .Index(v => v.OwnerId)
                .Index(v => v.TemplateId)
                .Index(v => v.GroupId)
                .Index(v => v.HostId)
                // A host's allocations count the VMs moving to it (VmUsageTotals).
                .Index(v => v.Migration!.ToHostId);
            options.Schema.For<CreateKey>().UniqueIndex(UniqueIndexType.Computed, "uq_create_key", k => k.Key);
        });
    }

    public static void MapVms(this WebApplication app)
    {
        app.MapVmEndpoints();
        app.MapMigrationEndpoints();
    }
}
