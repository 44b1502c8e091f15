using Paddock.Portal.Features.Images;

namespace Paddock.Unit.Portal.Images;

public sealed class StorageStandingTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
    private static readonly Guid Self = Guid.NewGuid();

    [Fact]
    public void An_upload_fits_exactly_what_images_and_other_reservations_leave()
    {
        var standing = new StorageStanding(Quota: 3 << 20, Used: 1 << 20, Reserved: 1 << 20);

        Assert.Equal(1 << 20, standing.Left);
        Assert.True(standing.Fits(1 << 20));
        Assert.False(standing.Fits((1 << 20) + 1));
    }

    [Fact]
    public void Over_the_quota_nothing_is_left_and_the_refusal_says_the_numbers()
    {
        var standing = new StorageStanding(Quota: 3 << 20, Used: 2 << 20, Reserved: 2 << 20);

        Assert.Equal(0, standing.Left);
        Assert.Equal("Image storage: this upload needs 1 MiB; you use 2 MiB and your other uploads in progress hold 2 MiB of 3 MiB, 0 MiB left.",
            standing.Refusal(1 << 20, "this upload"));
    }

    [Fact]
    public void Lapsed_reservations_and_the_uploads_own_do_not_count()
    {
        UploadReservation[] reservations =
        [
            new() { Id = Self, Bytes = 100, ExpiresAt = Now.AddMinutes(5) },
            new() { Id = Guid.NewGuid(), Bytes = 10, ExpiresAt = Now.AddMinutes(5) },
            new() { Id = Guid.NewGuid(), Bytes = 1000, ExpiresAt = Now },
        ];

        Assert.Equal(10, StorageStanding.ReservedBy(reservations, Self, Now));
    }
}
