using Marten;
using Paddock.Portal.Features.Images;

namespace Paddock.Portal.Features.Templates;

/// <summary>
/// A person's templates take their image storage: a ready one its image's size, one being
/// converted the size of the disk it flattens (what it may take at most, held until it is known).
/// The built-in template is the portal's, not its owner's.
/// </summary>
public sealed class TemplateStorage : IStorageHolder
{
    public async Task<long> BytesOfAsync(IQuerySession session, Guid owner, CancellationToken ct)
    {
        var templates = await session.Query<VmTemplate>().Where(t => t.OwnerId == owner && t.Id != VmTemplate.BuiltinId).ToListAsync(ct);
        return templates.Sum(BytesOf);
    }

    public static long BytesOf(VmTemplate template) =>
        template.State == TemplateState.Converting ? template.DiskBytes : template.ImageBytes ?? template.DiskBytes;
}
