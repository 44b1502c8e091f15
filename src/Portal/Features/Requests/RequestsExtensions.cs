using JasperFx.Events.Projections;
using Marten;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Requests;

public static class RequestsExtensions
{
    /// <summary>Requests for an admin's approval, and their streams and documents.</summary>
    public static void AddRequests(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<RequestsChanged>>();
        builder.Services.AddSingleton<RequestService>();
        builder.Services.AddSingleton<IApprovalRequests>(services => services.GetRequiredService<RequestService>());
        builder.Services.ConfigureMarten(options =>
        {
            options.Projections.Snapshot<VmRequest>(SnapshotLifecycle.Inline);
            options.Schema.For<VmRequest>().Index(r => r.RequesterId).Index(r => r.State).Index(r => r.SubmittedAt);
        });
    }

    public static void MapRequests(this WebApplication app) => app.MapRequestEndpoints();
}
