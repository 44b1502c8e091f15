using Paddock.Engine.Guests;

namespace Paddock.Unit.Engine.Guests;

public sealed class Sha512CryptTests
{
    // The SHA-512 vectors of Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512"; each also matches
    // `openssl passwd -6 -salt 'rounds=N$salt' password` (OpenSSL 3.0).
    [Theory]
    [InlineData("Hello world!", "saltstring", 5000,
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("Hello world!", "saltstringsaltstring", 10000,
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.")]
    [InlineData("a very much longer text to encrypt.  This one even stretches over morethan one line.", "anotherlongsaltstring", 1400,
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1")]
    [InlineData("we have a short salt string but not a short password", "short", 77777,
        "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0")]
    [InlineData("a short string", "asaltof16chars..", 123456,
        "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1")]
    public void Hash_matches_the_spec_vectors(string password, string salt, int rounds, string expected) =>
        Assert.Equal(expected, Sha512Crypt.Hash(password, salt, rounds));

    [Fact]
    public void Too_few_rounds_are_raised_to_the_minimum_as_the_spec_says()
    {
        Assert.Equal(
            "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
            Sha512Crypt.Hash("the minimum number is still observed", "roundstoolow", 10));
    }

    [Fact]
    public void The_default_rounds_are_not_written_into_the_hash()
    {
        // The spec's vector says "rounds=5000" because its salt asked for them; the digest is the same without.
        Assert.Equal(
            "$6$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
            Sha512Crypt.Hash("This is just a test", "toolongsaltstring"));
    }

    [Theory]
    // From `python3 -c "import crypt; print(crypt.crypt(p, '$6$abc'))"` (glibc) and `openssl passwd -6`.
    [InlineData("", "abc", "$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD.")]
    [InlineData("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "abc",
        "$6$abc$lqm/hsz9bcZkUtAtYbLwpnjmKC.15FR72lU6wIZyIc.62cqMaU1Vt98zOjFNTEe2ODzyk2BzpnkwLzH2YLN3J0")]
    [InlineData("pässwörd€", "unicode", "$6$unicode$fbM2oR0UNdawFNWuyBfUS9oV/4VEKEH7XZ4UY1sj5p68EeU2O1FK2V9dA7sEQrE3LZeZf3YT79KxhV1Jb2rzg0")]
    public void Hash_matches_glibc_for_empty_block_sized_and_non_ascii_passwords(string password, string salt, string expected) =>
        Assert.Equal(expected, Sha512Crypt.Hash(password, salt));

    [Fact]
    public void A_password_longer_than_two_digests_matches_openssl()
    {
        Assert.Equal(
            "$6$Zz09./$N2PCWx3G6uo0sm.wiUTk/OnXdBmz.2ZqTtLb7XYvmXZVqu6QM0NzZEPkFXQ2V4eWavlvm0p31sRkYaC5EiFxD0",
            Sha512Crypt.Hash(new string('p', 150), "Zz09./"));
    }

    [Fact]
    public void A_random_salt_is_16_characters_of_the_alphabet_and_differs_each_time()
    {
        var first = Sha512Crypt.HashWithRandomSalt("secret");
        var second = Sha512Crypt.HashWithRandomSalt("secret");

        Assert.NotEqual(first, second);
        var salt = first.Split('$')[2];
        Assert.Equal(16, salt.Length);
        Assert.All(salt, c => Assert.Contains(c, Sha512Crypt.Alphabet));
        Assert.Equal(first, Sha512Crypt.Hash("secret", salt));
        CloudInitRules.CheckPasswordHash(first);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has$dollar")]
    [InlineData("has space")]
    public void A_salt_outside_the_alphabet_is_refused(string salt) =>
        Assert.ThrowsAny<ArgumentException>(() => Sha512Crypt.Hash("secret", salt));
}
