using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Endpoints;

namespace Paddock.Portal;

/// <summary>
/// A page's typed query values (<c>[SupplyParameterFromQuery] int? Wait</c>) are checked before the
/// page renders: Blazor throws when one does not parse (<c>?wait=abc</c> was a 500), so a value of
/// the wrong type is answered 400 here, for every page at once.
/// </summary>
public static class PageQueryCheck
{
    private static readonly ConcurrentDictionary<Type, (string Name, Type Type)[]> Typed = new();

    public static void UsePageQueryCheck(this WebApplication app) => app.Use((http, next) =>
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<ComponentTypeMetadata>() is { } page)
        {
            foreach (var (name, type) in Typed.GetOrAdd(page.Type, TypedQueryOf))
            {
                if (http.Request.Query.TryGetValue(name, out var values) && values.Any(v => !Parses(v, type)))
                {
                    throw new BadHttpRequestException($"The query value '{name}' is not a {type.Name}.");
                }
            }
        }

        return next(http);
    });

    private static (string, Type)[] TypedQueryOf(Type component) =>
    [
        .. component.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Select(p => (Attribute: p.GetCustomAttribute<SupplyParameterFromQueryAttribute>(), Property: p))
            .Where(p => p.Attribute is not null)
            .Select(p => (p.Attribute!.Name ?? p.Property.Name, Element(p.Property.PropertyType)))
            .Where(p => p.Item2 != typeof(string)),
    ];

    private static Type Element(Type type)
    {
        type = type.IsArray ? type.GetElementType()! : type;
        return Nullable.GetUnderlyingType(type) ?? type;
    }

    /// <summary>Blazor reads query values with the invariant culture, through each type's TryParse.</summary>
    private static bool Parses(string? value, Type type)
    {
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        var tryParse = type.GetMethod("TryParse", BindingFlags.Public | BindingFlags.Static, [typeof(string), typeof(IFormatProvider), type.MakeByRefType()]);
        return tryParse?.Invoke(null, [value, CultureInfo.InvariantCulture, null]) is true;
    }
}
