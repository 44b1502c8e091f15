using System.Diagnostics;
using System.Text.RegularExpressions;
using Paddock.Engine.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// Which VM uids may read a library image in the host's store. A library image is someone's own
/// upload (or a template made from someone's VM): it is root's alone (mode 0400) and each VM on
/// this host that uses it (as its disk's base or the ISO in a CD-ROM drive) gets a POSIX ACL entry
/// <c>u:&lt;its uid&gt;:r</c>, taken away when no VM of that uid uses it any more. The ACL is always
/// written whole from the VMs there are (<c>setfacl --set</c>), so a lost update or a stale entry
/// mends itself at the next change. Without own uids (an agent that is not root) every VM runs as
/// the agent, which owns the image: nothing is granted then.
/// </summary>
public sealed partial class ImageAccess(ConfinementGuard guard, ILogger<ImageAccess> log) : IDisposable
{
    // One writer at a time: two VMs' changes to one image must not compute their ACLs side by side.
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>The image files a VM's spec uses: its disks' bases and the ISOs in its drives.</summary>
    public static IEnumerable<string> ImagesOf(VmSpec spec) =>
        spec.Disks.Select(d => d.BaseImage).Concat(spec.Cdroms.Select(c => c.Image)).OfType<string>().Distinct();

    /// <summary>Whether the image is a library image (named by its checksum), the only kind whose readers are limited.</summary>
    /// <remarks>
    /// The built-in template's image (<c>builtin-busybox.qcow2</c>) is installed with each host, is
    /// no one's own and is the base of every VM made from that template: it stays world-readable.
    /// </remarks>
    public static bool IsLibraryImage(string fileName) => LibraryName().IsMatch(fileName);

    /// <summary>The uids that may read <paramref name="fileName"/>: those of the VMs using it, each once, in order.</summary>
    public static IReadOnlyList<int> ReadersOf(string fileName, IEnumerable<(VmSpec Spec, int Uid)> vms) =>
        [.. vms.Where(v => ImagesOf(v.Spec).Contains(fileName)).Select(v => v.Uid).Distinct().Order()];

    /// <summary>The whole ACL for an image with these readers: root reads, no group, no others, each reader reads.</summary>
    public static string AclFor(IReadOnlyList<int> readers) =>
        string.Join(',', ["u::r--", "g::---", "o::---", .. readers.Count > 0 ? ["m::r--"] : Array.Empty<string>(), .. readers.Select(u => $"u:{u}:r--")]);

    /// <summary>
    /// Writes the ACL of each of <paramref name="fileNames"/> (in <paramref name="directory"/>) from
    /// the specs <paramref name="specs"/> gives, read under the lock so the latest ones count.
    /// Images not here yet are skipped: they get theirs when a VM that uses them is started.
    /// </summary>
    public async Task ShareAsync(string directory, IEnumerable<string> fileNames, Func<IEnumerable<VmSpec>> specs, CancellationToken ct)
    {
        if (!guard.Confinement.OwnUid)
        {
            return;
        }

        await _lock.WaitAsync(ct);
        try
        {
            var vms = specs().Select(s => (s, guard.IdsOf(s).Uid)).ToList();
            foreach (var fileName in fileNames.Distinct().Where(IsLibraryImage))
            {
                var path = Path.Combine(directory, fileName);
                if (File.Exists(path))
                {
                    await SetAclAsync(path, AclFor(ReadersOf(fileName, vms)), ct);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task SetAclAsync(string path, string acl, CancellationToken ct)
    {
        var start = new ProcessStartInfo("setfacl") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in (string[])["--set", acl, "--", path])
        {
            start.ArgumentList.Add(arg);
        }

        string error;
        int exitCode;
        try
        {
            using var setfacl = Process.Start(start)!;
            error = await setfacl.StandardError.ReadToEndAsync(ct);
            await setfacl.WaitForExitAsync(ct);
            exitCode = setfacl.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            (error, exitCode) = (e.Message, -1);
        }

        if (exitCode != 0)
        {
            log.LogError("setfacl --set {Acl} {Path} failed: {Error}", acl, path, error);
            throw new InvalidOperationException(
                $"Could not set who may read image {Path.GetFileName(path)} ({acl}): {error.Trim()}. " +
                "The host needs setfacl (Debian package acl) and a data filesystem with POSIX ACLs.");
        }
    }

    public void Dispose() => _lock.Dispose();

    [GeneratedRegex(@"^[0-9a-f]{64}\.(qcow2|iso)$")]
    private static partial Regex LibraryName();
}
