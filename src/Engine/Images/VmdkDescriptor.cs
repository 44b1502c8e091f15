using System.Text;
using System.Text.RegularExpressions;

namespace Paddock.Engine.Images;

/// <summary>
/// Which VMDKs the library takes: one file holding its own data (monolithicSparse, or the
/// streamOptimized kind OVAs carry). A text descriptor keeps its data in extent files named inside
/// it, and a split image (twoGbMaxExtent*) in several: an upload is one file, and opening the files
/// such a descriptor names reads the host's own (CVE-2022-47951), so both are refused, the
/// descriptor before qemu-img ever opens it.
/// </summary>
public static partial class VmdkDescriptor
{
    /// <summary>The create types of single-file VMDKs.</summary>
    public static readonly IReadOnlyList<string> SingleFile = ["monolithicSparse", "streamOptimized"];

    /// <summary>Enough of the file's start to hold a descriptor (VMware keeps them under a few KiB).</summary>
    public const int HeadBytes = 64 * 1024;

    /// <summary>Why a VMDK whose first bytes are <paramref name="head"/> is refused, or null when it is no text descriptor.</summary>
    public static string? Refusal(ReadOnlySpan<byte> head)
    {
        var text = Encoding.Latin1.GetString(head);
        if (!text.StartsWith("# Disk DescriptorFile", StringComparison.Ordinal))
        {
            return null;
        }

        var createType = CreateType().Match(text) is { Success: true } type ? type.Groups[1].Value : "unknown";
        var extents = Extent().Matches(text).Select(m => m.Groups[1].Success ? $"'{m.Groups[1].Value}'" : "(no file)").ToList();
        return Refusal(createType, extents.Count, extents);
    }

    /// <summary>Why a VMDK qemu-img describes so is refused, or null when it is a single-file one.</summary>
    public static string? Refusal(DiskImageInfo info) =>
        info.Format == "vmdk" && (info.VmdkExtents > 1 || info.VmdkCreateType is not { } type || !SingleFile.Contains(type))
            ? Refusal(info.VmdkCreateType ?? "unknown", info.VmdkExtents, info.ExternalFiles.Select(f => $"'{f}'").ToList())
            : null;

    private static string Refusal(string createType, int extents, List<string> files) =>
        $"This VMDK is {(extents > 1 ? "split into" : "a descriptor of")} {extents} extent{(extents == 1 ? "" : "s")} (createType {createType}"
        + $"{(files.Count > 0 ? $"; {string.Join(", ", files)}" : "")}): split and multi-extent VMDKs are refused, since their data lies in other files. "
        + $"Upload a single-file VMDK ({string.Join(" or ", SingleFile)}), e.g. made by 'qemu-img convert -O vmdk -o subformat=monolithicSparse', or a qcow2.";

    [GeneratedRegex(""""^\s*createType\s*=\s*"([^"]*)"""", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex CreateType();

    // An extent line: access, size in sectors, type, then the file in quotes (ZERO extents have none).
    [GeneratedRegex("""^\s*(?:RW|RDONLY|NOACCESS)\s+\d+\s+\w+(?:\s+"([^"]*)")?""", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex Extent();
}
