using Marten;
using Paddock.Portal.Features.Images;

namespace Paddock.Portal.Features.Templates;

public static class TemplatesExtensions
{
    /// <summary>Templates, the built-in one, and their documents.</summary>
    public static void AddTemplates(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<TemplateChanged>>();
        builder.Services.AddSingleton<TemplateService>();
        // A template takes its owner's image storage: Images asks, through the interface it owns.
        builder.Services.AddSingleton<IStorageHolder, TemplateStorage>();
        builder.Services.AddSingleton<ITemplateImages, TemplateImages>();
        builder.Services.AddHostedService<TemplatesOnStartup>();
        builder.Services.AddHostedService<DebianTemplateInstaller>();
        // A create from a template stores the template again: a racing delete of it then fails.
        builder.Services.ConfigureMarten(options => options.Schema.For<VmTemplate>().UseOptimisticConcurrency(true));
    }

    public static void MapTemplates(this WebApplication app) => app.MapTemplateEndpoints();
}
