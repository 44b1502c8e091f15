using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;

namespace Paddock.Host.Node;

/// <summary>
/// Below a floor of free space on the data disk, operations that take disk (create, clone, save,
/// snapshot, convert, hardware changes) are refused with the figures: one tenant filling the disk
/// must not make everyone's next operation fail half-way, and what is left stays for the VMs that
/// run (a guest whose disk cannot grow is paused by QEMU, not lost).
/// </summary>
public sealed class DiskSpaceGuard(IOptions<AgentOptions> options, Func<string, long>? freeBytesOf = null)
{
    private const long MiB = 1024 * 1024;

    private readonly Func<string, long> _freeBytesOf = freeBytesOf ?? DiskRoom.FreeBytesAt;

    /// <summary>What the file system of the VMs' directory has free for this agent now.</summary>
    public long FreeBytes() => _freeBytesOf(options.Value.VmsDir);

    /// <summary>Throws, with the figures, when <paramref name="verb"/> takes disk and the free space is below the floor.</summary>
    public void CheckRoom(VmVerb verb)
    {
        if (!TakesDisk(verb))
        {
            return;
        }

        var free = FreeBytes();
        var floor = options.Value.MinFreeDiskMiB * MiB;
        if (free < floor)
        {
            throw new InvalidOperationException(Refusal(verb, free, floor));
        }
    }

    public static bool TakesDisk(VmVerb verb) =>
        verb is VmVerb.Create or VmVerb.Save or VmVerb.Snapshot or VmVerb.ConvertToTemplate or VmVerb.ChangeHardware or VmVerb.MigrateIn;

    internal static string Refusal(VmVerb verb, long free, long floor) =>
        $"{(verb == VmVerb.MigrateIn ? "Receiving a migration" : verb.ToString())} is refused: this host has {free / MiB} MiB of disk free and keeps at least {floor / MiB} MiB free for the VMs that run. " +
        "Try again once space is freed.";
}
