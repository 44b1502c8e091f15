namespace Paddock.Portal.Features.Templates;

/// <summary>The built-in template is there from the first start, as the settings describe it.</summary>
public sealed class TemplatesOnStartup(TemplateService templates) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => templates.EnsureBuiltinAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
