using System.ComponentModel.DataAnnotations;

namespace Paddock.Portal.Features.Networks;

/// <summary>Settings under <c>Paddock:Networks</c>.</summary>
public sealed record NetworkOptions : IValidatableObject
{
    public const string Section = "Paddock:Networks";

    /// <summary>
    /// The hosts' own networks (CIDRs such as <c>192.168.1.0/24</c>): no tenant network may overlap
    /// them, so that a guest's network never shadows a route the host needs. The hosts' VXLAN
    /// addresses are kept out besides.
    /// </summary>
    public IReadOnlyList<string> Reserved { get; init; } = [];

    /// <summary>The host ports port forwards may take (<c>first-last</c>), the same range on every host.</summary>
    public string ForwardPorts { get; init; } = "20000-20999";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        Reserved.Where(r => Ipv4Cidr.Parse(r) is null)
            .Select(r => new ValidationResult($"Paddock:Networks:Reserved: '{r}' is not an IPv4 CIDR such as 192.168.1.0/24.", [nameof(Reserved)]))
            .Concat(ForwardRules.ParseRange(ForwardPorts) is null
                ? [new ValidationResult($"Paddock:Networks:ForwardPorts: '{ForwardPorts}' is not a port range such as 20000-20999.", [nameof(ForwardPorts)])]
                : []);
}
