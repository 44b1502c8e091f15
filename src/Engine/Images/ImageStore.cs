namespace Paddock.Engine.Images;

/// <summary>
/// The host's directory of base images. Names come from the portal, so a name is only ever a
/// plain file name inside <see cref="Directory"/>: no separators, no "..", no absolute paths.
/// </summary>
public sealed class ImageStore
{
    public ImageStore(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Path.IsPathFullyQualified(directory))
            throw new ArgumentException($"The image directory must be an absolute path (was '{directory}').", nameof(directory));
        Directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
    }

    public string Directory { get; }

    /// <summary>
    /// The absolute path of image <paramref name="fileName"/>; throws
    /// <see cref="InvalidImageNameException"/> for anything but a plain file name.
    /// </summary>
    public string Resolve(string fileName)
    {
        if (WhyInvalid(fileName) is { } why)
            throw new InvalidImageNameException(fileName, why);

        var path = Path.GetFullPath(Path.Join(Directory, fileName));
        // Belt and braces: whatever the checks above missed, the result must sit directly in Directory.
        if (!string.Equals(Path.GetDirectoryName(path), Directory, StringComparison.Ordinal))
            throw new InvalidImageNameException(fileName, "does not resolve to a file inside the image directory");
        return path;
    }

    /// <summary>Why <paramref name="fileName"/> is not an acceptable image name, or null when it is.</summary>
    internal static string? WhyInvalid(string? fileName)
    {
        if (string.IsNullOrWhiteSpace(fileName))
            return "is empty";
        if (fileName.Length > 255)
            return "is longer than 255 characters";
        if (fileName.Any(char.IsControl))
            return "contains control characters (NUL, line breaks)";
        if (fileName is "." or "..")
            return "is a directory reference";
        if (fileName.Contains('/') || fileName.Contains('\\'))
            return "contains a path separator";
        if (Path.IsPathRooted(fileName))
            return "is an absolute path";
        // "nbd:..." or "json:{...}" could be read as a QEMU protocol prefix by tools that take the
        // name alone; "C:x" is drive-relative on Windows.
        if (fileName.Contains(':'))
            return "contains ':'";
        if (fileName.StartsWith('-'))
            return "starts with '-'";
        return null;
    }
}
