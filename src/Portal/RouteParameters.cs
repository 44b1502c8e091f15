using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Mvc;

namespace Paddock.Portal;

/// <summary>
/// What a route takes, for <c>routes</c>: each parameter with where it comes from (route, query,
/// header, form, body) and, for a JSON body, the shape of its fields. Read from the handler's own
/// signature (minimal API endpoints carry their <see cref="MethodInfo"/> as metadata) and from a
/// page's <see cref="SupplyParameterFromQueryAttribute"/> properties, so the fuzz test needs no list
/// of its own that could fall behind.
/// </summary>
public static class RouteParameters
{
    public static JsonArray OfEndpoint(RouteEndpoint endpoint)
    {
        var found = new JsonArray();
        var inRoute = endpoint.RoutePattern.Parameters.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var name in inRoute)
        {
            found.Add(Parameter(name, "route", "string"));
        }

        if (endpoint.Metadata.GetMetadata<MethodInfo>() is not { } handler)
        {
            return found;
        }

        // What minimal APIs read from a JSON body they say in IAcceptsMetadata.
        var bodies = endpoint.Metadata.GetOrderedMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>().Select(a => a.RequestType).OfType<Type>().ToHashSet();
        foreach (var p in handler.GetParameters())
        {
            var name = p.Name ?? "";
            if (p.GetCustomAttribute<FromHeaderAttribute>() is { } header)
            {
                found.Add(Parameter(header.Name ?? name, "header", Shape(p.ParameterType)));
            }
            else if (p.GetCustomAttribute<FromFormAttribute>() is { } form)
            {
                found.Add(Parameter(form.Name ?? name, "form", Shape(p.ParameterType)));
            }
            else if (inRoute.Contains(name))
            {
                // Listed from the pattern above; the handler says the type.
                ((JsonObject)found.First(f => (string)f!["name"]! == name)!)["type"] = Shape(p.ParameterType);
            }
            else if (p.GetCustomAttribute<FromQueryAttribute>() is { } query)
            {
                found.Add(Parameter(query.Name ?? name, "query", Shape(p.ParameterType)));
            }
            else if (IsSimple(p.ParameterType))
            {
                found.Add(Parameter(name, "query", Shape(p.ParameterType)));
            }
            else if (bodies.Contains(p.ParameterType))
            {
                found.Add(Parameter(name, "body", Shape(p.ParameterType)));
            }
        }

        return found;
    }

    public static JsonArray OfPage(RouteEndpoint endpoint, Type component)
    {
        var found = new JsonArray();
        foreach (var name in endpoint.RoutePattern.Parameters.Select(p => p.Name))
        {
            found.Add(Parameter(name, "route", "string"));
        }

        foreach (var property in component.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (property.GetCustomAttribute<SupplyParameterFromQueryAttribute>() is { } query)
            {
                found.Add(Parameter(query.Name ?? property.Name, "query", Shape(property.PropertyType)));
            }
        }

        return found;
    }

    /// <summary>Each hub method's arguments, in order, as shapes: what a caller of the hub sends.</summary>
    public static JsonObject OfHubMethods(IEnumerable<MethodInfo> methods) =>
        new(methods.Select(m => KeyValuePair.Create(m.Name, (JsonNode?)new JsonArray([.. m.GetParameters().Select(p => Shape(p.ParameterType))]))));

    private static JsonObject Parameter(string name, string from, JsonNode? type) => new() { ["name"] = name, ["from"] = from, ["type"] = type };

    /// <summary>"string", "datetime", "timespan", "integer", "number", "boolean", "guid", "enum:A|B", [item] or {field: shape}.</summary>
    private static JsonNode Shape(Type type, int depth = 0)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (ScalarShape(type) is { } scalar)
        {
            return scalar;
        }

        if (depth > 3)
        {
            return "object";
        }

        if (type.IsArray || (type.IsGenericType && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))))
        {
            var item = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[^1];
            return new JsonArray(Shape(item, depth + 1));
        }

        var fields = new JsonObject();
        foreach (var property in type.GetProperties(BindingFlags.Instance | BindingFlags.Public).Where(p => p.CanWrite || IsRecordParameter(type, p)))
        {
            fields[JsonNamingPolicy.CamelCase.ConvertName(property.Name)] = Shape(property.PropertyType, depth + 1);
        }

        return fields;
    }

    /// <summary>The shape of a type sent as one value, or null for a collection or an object.</summary>
    private static string? ScalarShape(Type type)
    {
        if (type == typeof(string))
        {
            return "string";
        }

        if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
        {
            return "datetime";
        }

        if (type == typeof(TimeSpan))
        {
            return "timespan";
        }

        if (type == typeof(Guid))
        {
            return "guid";
        }

        if (type == typeof(bool))
        {
            return "boolean";
        }

        if (type.IsEnum)
        {
            return "enum:" + string.Join('|', Enum.GetNames(type));
        }

        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return "number";
        }

        return type.IsPrimitive ? "integer" : null;
    }

    private static bool IsRecordParameter(Type type, PropertyInfo property) =>
        type.GetConstructors().Any(c => c.GetParameters().Any(p => string.Equals(p.Name, property.Name, StringComparison.OrdinalIgnoreCase)));

    private static bool IsSimple(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(Guid) || type == typeof(decimal) || type == typeof(DateTimeOffset);
    }
}
