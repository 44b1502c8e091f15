using Paddock.Portal.Features.Tokens;

namespace Paddock.Unit.Portal.Tokens;

public sealed class TokenTextTests
{
    [Fact]
    public void A_new_token_names_its_id_and_only_its_secrets_hash_is_kept()
    {
        var id = Guid.NewGuid();
        var (text, hash) = TokenText.New(id);
        Assert.Equal(TokenText.Length, text.Length);
        Assert.StartsWith("pdk_", text, StringComparison.Ordinal);
        var (parsedId, secret) = TokenText.Parse(text)!.Value;
        Assert.Equal(id, parsedId);
        Assert.DoesNotContain(secret, hash, StringComparison.Ordinal);
        Assert.True(TokenText.Matches(secret, hash));
        Assert.NotEqual(text, TokenText.New(id).Text);
    }

    [Fact]
    public void A_secret_that_differs_in_one_digit_does_not_match()
    {
        var (text, hash) = TokenText.New(Guid.NewGuid());
        var secret = TokenText.Parse(text)!.Value.Secret;
        var other = (secret[0] == '0' ? "1" : "0") + secret[1..];
        Assert.False(TokenText.Matches(other, hash));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("pdk_")]
    [InlineData("xyz_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("pdk_0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("pdk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")]
    [InlineData("pdk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg")]
    public void Anything_but_a_token_is_no_token(string text) => Assert.Null(TokenText.Parse(text));
}
