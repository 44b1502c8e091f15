using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Paddock.Portal;

/// <summary>
/// How the API reads JSON, for every endpoint at once: a body that does not fit its request record
/// fails while it is read (a <see cref="JsonException"/>, answered 400 with no echo of the value) instead
/// of deep in a service. The API speaks the UI's words ("Running", "OnCrash"), not numbers.
/// </summary>
public static class RequestJson
{
    /// <summary>No field of any request is longer (names are a few dozen characters, descriptions a few lines).</summary>
    public const int MaxStringChars = 16 * 1024;

    public static void Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new JsonStringEnumConverter());
        options.Converters.Add(new BoundedString());
        // `"combination": null` where the record says never null.
        options.RespectNullableAnnotations = true;
        options.TypeInfoResolver = (options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(NonNullableFieldsAreRequired);
    }

    /// <summary>A body record's field that is neither nullable nor has a default must be there (`{}` for `KeysBody` was a 500).</summary>
    private static void NonNullableFieldsAreRequired(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object || info.Type.Namespace?.StartsWith("Paddock.", StringComparison.Ordinal) != true)
        {
            return;
        }

        foreach (var property in info.Properties)
        {
            if (!property.PropertyType.IsValueType && property.AssociatedParameter is { HasDefaultValue: false, IsNullable: false })
            {
                property.IsRequired = true;
            }
        }
    }

    private sealed class BoundedString : JsonConverter<string>
    {
        public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Bounded(reader.GetString()!);

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

        public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Bounded(reader.GetString()!);

        public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WritePropertyName(value);

        private static string Bounded(string value) =>
            value.Length <= MaxStringChars ? value : throw new JsonException($"A string is longer than {MaxStringChars} characters.");
    }
}
