namespace Paddock.Engine.Images;

/// <summary>A base image name that is not a plain file name inside the image store (path traversal, control characters, empty).</summary>
public sealed class InvalidImageNameException(string name, string reason)
    : Exception($"Image name '{Printable(name)}' {reason}")
{
    public string Name { get; } = name;

    private static string Printable(string? value) =>
        value is null ? "null" : string.Concat(value.Take(64).Select(c => char.IsControl(c) ? '?' : c));
}
