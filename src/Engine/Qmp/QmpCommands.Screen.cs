using System.Runtime.InteropServices;

namespace Paddock.Engine.Qmp;

/// <summary>The VM's screen as a picture, into a file the agent opened (qapi/ui.json "screendump", qapi/misc.json "add-fd").</summary>
public static partial class QmpCommands
{
    /// <summary>Hands QEMU <paramref name="descriptor"/> in a new fd set (add-fd, by SCM_RIGHTS); "/dev/fdset/ID" then opens it.</summary>
    public static async Task<long> AddFdAsync(this QmpClient qmp, SafeHandle descriptor, CancellationToken ct = default, TimeSpan? timeout = null) =>
        (await qmp.ExecuteWithDescriptorAsync("add-fd", null, descriptor, ct, timeout).ConfigureAwait(false)).GetProperty("fdset-id").GetInt64();

    public static Task RemoveFdAsync(this QmpClient qmp, long fdsetId, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("remove-fd", new Dictionary<string, object> { ["fdset-id"] = fdsetId }, ct, timeout);

    /// <summary>Writes the primary display, as a binary PPM, to <paramref name="filename"/> (QEMU opens it: give it "/dev/fdset/ID").</summary>
    public static Task ScreendumpAsync(this QmpClient qmp, string filename, CancellationToken ct = default, TimeSpan? timeout = null) =>
        qmp.ExecuteAsync("screendump", new { filename }, ct, timeout);
}
