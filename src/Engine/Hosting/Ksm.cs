using System.Globalization;

namespace Paddock.Engine.Hosting;

/// <summary>Kernel same-page merging as the host shows it: on or off, and what it shares (Documentation/admin-guide/mm/ksm.rst).</summary>
public sealed record KsmStatus(bool Available, bool Running, long PagesShared, long PagesSharing, long SavedBytes, string? Note);

/// <summary>
/// Reads and switches KSM through /sys/kernel/mm/ksm. KSM is machine-wide: where several agents
/// share a machine, exactly one of them (a setting) switches it.
/// </summary>
public sealed class Ksm(string root = Ksm.DefaultRoot)
{
    public const string DefaultRoot = "/sys/kernel/mm/ksm";

    public KsmStatus Read()
    {
        if (!File.Exists(Path.Combine(root, "run")))
        {
            return new KsmStatus(false, false, 0, 0, 0, "The kernel has no KSM (no /sys/kernel/mm/ksm).");
        }

        var running = Number("run") == 1;
        var sharing = Number("pages_sharing");
        // pages_sharing counts the pages that point at a shared one: the memory saved (ksm.rst).
        return new KsmStatus(true, running, Number("pages_shared"), sharing, sharing * Environment.SystemPageSize, null);
    }

    /// <summary>Turns KSM on or off; the reason it could not, or null.</summary>
    public string? Switch(bool on)
    {
        try
        {
            File.WriteAllText(Path.Combine(root, "run"), on ? "1" : "0");
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"KSM could not be switched {(on ? "on" : "off")}: {e.Message}";
        }
    }

    private long Number(string file)
    {
        try
        {
            return long.TryParse(File.ReadAllText(Path.Combine(root, file)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
