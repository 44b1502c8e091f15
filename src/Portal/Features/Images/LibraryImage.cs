using Paddock.Engine.Images;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Images;

/// <summary>
/// An ISO or a disk image in the portal's library. The file is named by its checksum, in the
/// library and in every agent's cache alike, so an agent fetches exactly the bytes the portal keeps.
/// </summary>
public sealed class LibraryImage
{
    public Guid Id { get; set; }

    public string Name { get; set; } = "";

    public ImageKind Kind { get; set; }

    /// <summary>The format it was uploaded in, as its owner stated it.</summary>
    public string UploadedFormat { get; set; } = "";

    /// <summary>The format it is kept in: raw for an ISO, qcow2 for a disk.</summary>
    public string Format { get; set; } = "";

    /// <summary>What the stored file takes.</summary>
    public long SizeBytes { get; set; }

    /// <summary>The disk (or CD) size a guest sees.</summary>
    public long VirtualSize { get; set; }

    /// <summary>SHA-256 of the stored file: what agents verify after a transfer.</summary>
    public string Sha256 { get; set; } = "";

    /// <summary>SHA-256 of the bytes as uploaded, for the owner to compare with their own file.</summary>
    public string UploadSha256 { get; set; } = "";

    public Guid OwnerId { get; set; }

    public Sharing Visibility { get; set; }

    public Guid? GroupId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public string FileName => FileNameFor(Sha256, Kind);

    public static string FileNameFor(string sha256, ImageKind kind) => $"{sha256}.{(kind == ImageKind.Iso ? "iso" : "qcow2")}";
}

/// <summary>What admins set for uploads. One document, fixed id.</summary>
public sealed class ImageSettings
{
    public static readonly Guid Key = new("0d0c0000-0000-4000-8000-000000000002");

    public Guid Id { get; set; } = Key;

    /// <summary>The largest file one upload may carry.</summary>
    public int MaxUploadMiB { get; set; } = 4096;

    /// <summary>What each person's images may take in the library altogether.</summary>
    public int StoragePerUserMiB { get; set; } = 20480;
}

/// <summary>Published to live pages when the library changed.</summary>
public sealed record ImagesChanged;
