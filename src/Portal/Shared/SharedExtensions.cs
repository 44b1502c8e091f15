using Marten;

namespace Paddock.Portal.Shared;

public static class SharedExtensions
{
    /// <summary>The audit trail every feature writes to, and its documents; the bus that carries change notices between portal processes.</summary>
    public static void AddShared(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<Audit>();
        builder.Services.AddSingleton<ChangeBus>();
        builder.Services.AddSingleton<SharedReads>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ChangeBus>());
        builder.Services.AddHostedService<ExpiredStatePurger>();
        builder.Services.AddHostedService<PoolWatch>();
        KeyRing.AddTo(builder);
        builder.Services.ConfigureMarten(options =>
        {
            options.Schema.For<AuditEntry>().Index(e => e.At).Index(e => e.Actor).Index(e => e.VmId);
            options.Storage.ExtendedSchemaObjects.Add(ChangeBus.NoticeTable());
        });
    }
}
