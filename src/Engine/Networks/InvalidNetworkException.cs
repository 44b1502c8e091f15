namespace Paddock.Engine.Networks;

/// <summary>
/// A network value that must not reach <c>ip</c>, <c>nft</c> or dnsmasq. <see cref="Field"/> names
/// what was wrong (<c>Cidr</c>, <c>Members[2].Mac</c>, <c>NetworkPrefix</c>); the message says why.
/// </summary>
public sealed class InvalidNetworkException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
