using System.Text.Json;
using System.Text.Json.Serialization;

namespace Paddock.Cli;

/// <summary>Where a profile's calls go and as whom: the portal's URL, an API token and (for a self-signed portal) its certificate's SHA-256.</summary>
public sealed record Profile(string Url, string Token, string? Fingerprint);

/// <summary>The profiles file and which profile is used when none is named.</summary>
public sealed record ProfileFile(Dictionary<string, Profile> Profiles, string? Current);

/// <summary>
/// The profiles, in <c>$PADDOCK_CONFIG</c> or <c>~/.config/paddock/config.json</c>, readable by its
/// owner alone (it holds tokens): written whole to a temporary file, then renamed over it.
/// </summary>
public static class Profiles
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static string FilePath =>
        Environment.GetEnvironmentVariable("PADDOCK_CONFIG") is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "paddock", "config.json");

    public static ProfileFile Load() =>
        File.Exists(FilePath)
            ? JsonSerializer.Deserialize<ProfileFile>(File.ReadAllText(FilePath), Json) ?? new([], null)
            : new([], null);

    public static void Save(ProfileFile file)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        var temporary = FilePath + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, file, Json);
        }

        File.Move(temporary, FilePath, overwrite: true);
    }

    /// <summary>The profile named, or the current one; a usage error when there is none.</summary>
    public static Profile Resolve(string? name)
    {
        var file = Load();
        var chosen = name ?? file.Current ?? throw new UsageException($"No profile: add one with `paddock profile add NAME --url URL --token TOKEN` ({FilePath}).");
        return file.Profiles.TryGetValue(chosen, out var profile) ? profile : throw new UsageException($"No profile named '{chosen}' in {FilePath}.");
    }
}

/// <summary>The command line was used wrongly: exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
