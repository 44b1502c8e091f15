namespace Paddock.Engine.Isolation;

/// <summary>
/// The SELinux contexts of sVirt, for one VM's <see cref="McsLabel"/>: its QEMU runs in the process
/// type with the VM's categories, its own files carry the image type with the same categories, and
/// the shared read-only base images carry the shared type with no category, so linked clones
/// under different labels all read them (libvirt: svirt_t, svirt_image_t, virt_content_t).
/// </summary>
public sealed record SelinuxContexts(string ProcessType = "svirt_t", string ImageType = "svirt_image_t", string SharedType = "virt_content_t")
{
    /// <summary>QEMU's context, for <c>setpriv --selinux-label</c>.</summary>
    public string Process(McsLabel label) => $"system_u:system_r:{Checked(ProcessType)}:{label}";

    /// <summary>The VM's own files: run directory, disks, sockets, saved state.</summary>
    public string Image(McsLabel label) => $"system_u:object_r:{Checked(ImageType)}:{label}";

    /// <summary>Base images that linked clones of any label read.</summary>
    public string Shared => $"system_u:object_r:{Checked(SharedType)}:s0";

    /// <summary>An SELinux type is a plain identifier: anything else (from a configuration file) is refused, not passed on.</summary>
    private static string Checked(string type) =>
        type.Length is > 0 and <= 64 && type.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
            ? type
            : throw new ArgumentException($"'{type}' is not an SELinux type (letters, digits and '_').", nameof(type));
}
