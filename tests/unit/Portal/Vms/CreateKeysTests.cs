using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms;

public sealed class CreateKeysTests
{
    [Theory]
    [InlineData("0d9f5f0e-2b7c-4cf4-9d55-1a9f0b1f3c11")]
    [InlineData("job-42/attempt")]
    [InlineData("!")]
    public void Visible_ascii_keys_are_taken(string key) => Assert.Null(CreateKeys.Problem(key));

    [Theory]
    [InlineData("")]
    [InlineData("with space")]
    [InlineData("tab\t")]
    [InlineData("ключ")]
    public void Empty_spaced_or_non_ascii_keys_are_refused_naming_the_header(string key) =>
        Assert.StartsWith("Idempotency-Key: ", CreateKeys.Problem(key));

    [Fact]
    public void A_key_longer_than_255_characters_is_refused() => Assert.NotNull(CreateKeys.Problem(new string('k', 256)));

    [Fact]
    public void A_key_is_kept_per_owner_and_only_hashed()
    {
        var (alice, bob) = (Guid.NewGuid(), Guid.NewGuid());
        Assert.NotEqual(CreateKeys.Of(alice, "same"), CreateKeys.Of(bob, "same"));
        Assert.Equal(CreateKeys.Of(alice, "same"), CreateKeys.Of(alice, "same"));
        Assert.DoesNotContain("same", CreateKeys.Of(alice, "same"), StringComparison.Ordinal);
    }
}
