using Marten;

namespace Paddock.Portal.Features.Images;

public static class ImagesExtensions
{
    /// <summary>The image library and uploads, and their documents.</summary>
    public static void AddImages(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<ImagesChanged>>();
        builder.Services.AddSingleton<ImageService>();
        builder.Services.AddSingleton<UploadReservations>();
        builder.Services.ConfigureMarten(options =>
        {
            options.Schema.For<LibraryImage>().Index(i => i.Sha256).Index(i => i.OwnerId);
            options.Schema.For<UploadReservation>().Index(r => r.OwnerId);
        });
    }

    public static void MapImages(this WebApplication app) => app.MapImageEndpoints();
}
