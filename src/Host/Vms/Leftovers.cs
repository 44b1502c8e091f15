using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>
/// What an agent killed in the middle of an operation leaves half-written: a Save's partial state
/// file and its socket, a spec written under a temporary name. Removed when the next agent starts,
/// before anything runs. Only names the agent itself makes, in the run directory that is root's
/// (the VM's uid writes only in its qemu/ directory below it), so nothing a guest made is followed.
/// </summary>
public static class Leftovers
{
    /// <summary>Removes them from one VM's run directory; how many there were.</summary>
    public static int Sweep(VmPaths paths)
    {
        if (!Directory.Exists(paths.RunDirectory))
        {
            return 0;
        }

        var names = Directory.EnumerateFiles(paths.RunDirectory, "*.tmp")
            .Append(SaveVmPartial(paths)).Append(paths.SaveSocket)
            .Where(File.Exists).ToList();
        foreach (var name in names)
        {
            File.Delete(name);
        }

        return names.Count;
    }

    /// <summary>Where Save writes the state until it is whole (then renamed to <see cref="VmPaths.StateFile"/>).</summary>
    public static string SaveVmPartial(VmPaths paths) => paths.StateFile + ".partial";
}
