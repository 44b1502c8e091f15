using System.Text.Json;

namespace Paddock.Engine.Qmp;

/// <summary>
/// QEMU's <c>BLOCK_IO_ERROR</c> event: a guest's disk read or write failed on the host.
/// <paramref name="Action"/> is what QEMU did about it (<c>stop</c>: it paused the guest, which is
/// what a drive's default <c>werror=enospc</c> does when the host's file system is full;
/// <c>report</c>: the guest was told); <paramref name="NoSpace"/> says the cause was ENOSPC.
/// </summary>
public sealed record BlockIoError(string Device, string Operation, string Action, bool NoSpace)
{
    public const string EventName = "BLOCK_IO_ERROR";

    /// <summary>Whether QEMU paused the guest because the host's file system is full.</summary>
    public bool PausedForRoom => Action == "stop" && NoSpace;

    /// <summary>The event's fields, or null when <paramref name="e"/> is another event or lacks them.</summary>
    public static BlockIoError? From(QmpEvent e)
    {
        if (e.Name != EventName || e.Data.ValueKind != JsonValueKind.Object)
            return null;
        string Text(string name) => e.Data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        var noSpace = e.Data.TryGetProperty("nospace", out var n) && n.ValueKind == JsonValueKind.True;
        return new BlockIoError(Text("device") is { Length: > 0 } device ? device : Text("node-name"), Text("operation"), Text("action"), noSpace);
    }
}
