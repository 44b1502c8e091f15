namespace Paddock.Portal.Features.Admin;

public static class AdminExtensions
{
    /// <summary>What admins do across the features: accounts and groups (the audit and isolation pages need no services).</summary>
    public static void AddAdmin(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<UserAdmin>();
        builder.Services.AddSingleton<GroupAdmin>();
    }
}
