using System.Text.Json;

namespace Paddock.Engine.Images;

/// <summary>
/// What <c>qemu-img info --output=json</c> says about one image (not its backing chain).
/// </summary>
/// <param name="ExternalFiles">Every other file the image would make QEMU open: backing file,
/// qcow2 data file, VMDK extents. Non-empty on an imported image means refuse it: crafted
/// references read host files (CVE-2022-47951).</param>
public sealed record DiskImageInfo(
    string Format,
    long VirtualSize,
    long? ActualSize,
    string? BackingFile,
    string? BackingFormat,
    string? DataFile,
    IReadOnlyList<string> ExternalFiles)
{
    /// <summary>Whether the image is encrypted (it would need a secret to open).</summary>
    public bool Encrypted { get; init; }

    /// <summary>The image's internal snapshots (qcow2), oldest first.</summary>
    public IReadOnlyList<DiskImageSnapshot> Snapshots { get; init; } = [];

    /// <summary>A VMDK's create type (<c>monolithicSparse</c>, <c>twoGbMaxExtentSparse</c>, ...), null for other formats.</summary>
    public string? VmdkCreateType { get; init; }

    /// <summary>How many extents a VMDK has (its own file counts as one): more than one is a split or multi-extent image.</summary>
    public int VmdkExtents { get; init; }

    public bool ReferencesOtherFiles => ExternalFiles.Count > 0;

    /// <summary>Parses qemu-img's JSON.</summary>
    /// <exception cref="FormatException">Not the JSON qemu-img writes.</exception>
    public static DiskImageInfo Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var backing = String(root, "full-backing-filename") ?? String(root, "backing-filename");
            var external = new List<string>();
            if (backing is not null)
                external.Add(backing);
            var specific = ParseFormatSpecific(root, external);
            var snapshots = ParseSnapshots(root);

            return new DiskImageInfo(
                String(root, "format") ?? throw new FormatException("qemu-img info has no 'format'."),
                root.GetProperty("virtual-size").GetInt64(),
                root.TryGetProperty("actual-size", out var actual) && actual.TryGetInt64(out var a) ? a : null,
                backing,
                String(root, "backing-filename-format"),
                specific.DataFile,
                external)
            {
                Snapshots = snapshots,
                VmdkCreateType = specific.CreateType,
                VmdkExtents = specific.ExtentCount,
                Encrypted = root.TryGetProperty("encrypted", out var encrypted) && encrypted.ValueKind == JsonValueKind.True,
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"Unexpected qemu-img info output: {e.Message}", e);
        }
    }

    /// <summary>
    /// The format-specific part: a qcow2 data file, a VMDK's create type and extents. Every file
    /// other than the image itself is added to <paramref name="external"/>.
    /// </summary>
    private static (string? DataFile, string? CreateType, int ExtentCount) ParseFormatSpecific(JsonElement root, List<string> external)
    {
        if (!root.TryGetProperty("format-specific", out var specific) || !specific.TryGetProperty("data", out var data)
            || data.ValueKind != JsonValueKind.Object)
        {
            return (null, null, 0);
        }

        var self = String(root, "filename");
        var dataFile = String(data, "data-file");
        if (dataFile is not null)
            external.Add(dataFile);
        var extentCount = 0;
        if (data.TryGetProperty("extents", out var extents) && extents.ValueKind == JsonValueKind.Array)
        {
            foreach (var extent in extents.EnumerateArray())
            {
                extentCount++;
                if (String(extent, "filename") is { } file && file != self)
                    external.Add(file);
            }
        }
        return (dataFile, String(data, "create-type"), extentCount);
    }

    /// <summary>The internal snapshots, in qemu-img's order.</summary>
    private static List<DiskImageSnapshot> ParseSnapshots(JsonElement root)
    {
        var snapshots = new List<DiskImageSnapshot>();
        if (!root.TryGetProperty("snapshots", out var list) || list.ValueKind != JsonValueKind.Array)
            return snapshots;
        foreach (var snapshot in list.EnumerateArray())
        {
            snapshots.Add(new DiskImageSnapshot(
                String(snapshot, "name") ?? "",
                snapshot.TryGetProperty("vm-state-size", out var state) && state.TryGetInt64(out var s) ? s : 0,
                snapshot.TryGetProperty("date-sec", out var date) && date.TryGetInt64(out var d) ? DateTimeOffset.FromUnixTimeSeconds(d) : null));
        }
        return snapshots;
    }

    private static string? String(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;
}

/// <summary>One internal snapshot: its tag, the size of the RAM state it holds (0 for disk-only) and when it was taken.</summary>
public sealed record DiskImageSnapshot(string Name, long VmStateBytes, DateTimeOffset? TakenAt);
