using Paddock.Portal.Features.Accounts;

namespace Paddock.Unit.Portal.Accounts;

public sealed class AccountEndpointsTests
{
    [Theory]
    [InlineData("/vms/1", "/vms/1")]
    [InlineData("https://evil.example/", "/")]
    [InlineData("//evil.example/", "/")]
    [InlineData("/\\evil.example/", "/")]
    [InlineData("/\t/evil.example/", "/")]
    [InlineData("/\r\n/evil.example/", "/")]
    [InlineData(null, "/")]
    [InlineData("", "/")]
    public void Return_url_after_sign_in_stays_on_this_site(string? given, string expected) =>
        Assert.Equal(expected, AccountEndpoints.SafeReturnUrl(given));
}
