namespace Paddock.Portal;

/// <summary>How the portal writes a size in bytes for people to read, the same on every page and in every refusal.</summary>
public static class Sizes
{
    /// <summary>Mebibytes with at most one decimal: "1.5 MiB".</summary>
    public static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):0.#} MiB";
}
