using Marten;
using Marten.Schema;

namespace Paddock.Portal.Features.Groups;

public static class GroupsExtensions
{
    /// <summary>Groups' documents; admins change groups through the Admin feature.</summary>
    public static void AddGroups(this WebApplicationBuilder builder) =>
        builder.Services.ConfigureMarten(options =>
            options.Schema.For<Group>().UniqueIndex(UniqueIndexType.Computed, "uq_group_name", g => g.Name).UseOptimisticConcurrency(true));
}
