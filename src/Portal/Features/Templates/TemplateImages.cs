using Marten;
using Paddock.Portal.Features.Images;

namespace Paddock.Portal.Features.Templates;

/// <summary>The templates' images in the library, for the image library below them.</summary>
public sealed class TemplateImages : ITemplateImages
{
    public Task<bool> NamesAsync(IQuerySession session, string fileName, CancellationToken ct = default) =>
        session.Query<VmTemplate>().AnyAsync(t => t.Image == fileName, ct);
}
