namespace Paddock.Engine.Vms;

/// <summary>A <see cref="VmSpec"/> that must not reach QEMU. <see cref="Field"/> names the offending field (e.g. <c>Disks[0].SizeBytes</c>).</summary>
public sealed class InvalidVmSpecException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
