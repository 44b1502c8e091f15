namespace Paddock.Engine.Qemu;

/// <summary>
/// The one way host- or user-provided text enters QEMU's command line.
/// </summary>
/// <remarks>
/// QEMU splits option lists (<c>-chardev</c>, <c>-vnc</c>, <c>-device</c> via QemuOpts, <c>-blockdev</c>
/// via keyval) on ',' and reads ",," as a literal comma (util/qemu-option.c <c>get_opt_value</c>,
/// util/keyval.c; docs/system/invocation "a comma in a value is doubled"). A path with a comma
/// that is not doubled would inject options. Newlines and NUL are refused outright: argv cannot
/// carry NUL, and a newline in a path ends up in logs and QMP replies as a forged line.
/// </remarks>
public static class QemuOptionValue
{
    /// <summary>For a value inside a <c>key=value,key=value</c> option list: refuses unsafe text and doubles commas.</summary>
    public static string Escape(string value, string what)
    {
        Check(value, what);
        return value.Replace(",", ",,", StringComparison.Ordinal);
    }

    /// <summary>For an argument QEMU takes verbatim (<c>-pidfile PATH</c>): refuses unsafe text, changes nothing.</summary>
    public static string Verbatim(string value, string what)
    {
        Check(value, what);
        return value;
    }

    private static void Check(string value, string what)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0)
            throw new UnsafeQemuValueException(what, "it is empty");
        if (value.Contains('\0'))
            throw new UnsafeQemuValueException(what, "it contains a NUL character");
        if (value.Contains('\n') || value.Contains('\r'))
            throw new UnsafeQemuValueException(what, "it contains a line break");
    }
}
