using Marten;
using Marten.Schema;
using Paddock.Portal.Shared;

namespace Paddock.Portal.Features.Groups;

public static class GroupsExtensions
{
    /// <summary>Groups' documents and the notice of their changes; admins change groups through the Admin feature.</summary>
    public static void AddGroups(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<GroupsChanged>>();
        builder.Services.ConfigureMarten(options =>
            options.Schema.For<Group>().UniqueIndex(UniqueIndexType.Computed, "uq_group_name", g => g.Name).UseOptimisticConcurrency(true));
    }
}
