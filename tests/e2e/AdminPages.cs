using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>Settings an admin changes through the pages, waited on until a member sees them.</summary>
public static class AdminPages
{
    /// <summary>Sets the image storage per person on the Images page and waits until <paramref name="member"/>'s limits say so.</summary>
    public static async Task SetImageStorageAsync(IPage admin, IPage member, int mib)
    {
        await admin.GotoAsync("/images");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("Image storage per person (MiB)").FillAsync(mib.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await admin.GetByRole(AriaRole.Button, new() { Name = "Save limits" }).ClickAsync();
        await Eventually.Async(
            async () => (await (await member.APIRequest.GetAsync("/api/images/limits")).JsonAsync())!.Value.GetProperty("storagePerUserMiB").GetInt32() == mib,
            TimeSpan.FromSeconds(10), "the storage limit to apply");
    }
}
