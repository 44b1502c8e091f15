using Marten;

namespace Paddock.Portal.Features.SshKeys;

public static class SshKeysExtensions
{
    /// <summary>Each person's SSH public keys: their service, change notices and documents.</summary>
    public static void AddSshKeys(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<SshKeyService>();
        builder.Services.AddSingleton<ChangeNotifier<SshKeysChanged>>();
        builder.Services.ConfigureMarten(options => options.Schema.For<SshKey>().Index(k => k.OwnerId));
    }

    public static void MapSshKeys(this WebApplication app) => app.MapSshKeyEndpoints();
}
