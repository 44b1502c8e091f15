namespace Paddock.Portal.Features.Networks;

/// <summary>
/// A port forward of a VM's NIC: what reaches the VM's host on <see cref="HostPort"/> goes to the
/// NIC's address on <see cref="GuestPort"/>. A unique index on host, protocol and host port lets
/// only one of two racing forwards have a port. Counted in its VM owner's quota; removed with the
/// NIC or the VM; picked again on the new host when the VM moves (<see cref="ForwardService.FollowAsync"/>).
/// </summary>
public sealed class VmForward
{
    public Guid Id { get; set; }

    public Guid VmId { get; set; }

    public string NicId { get; set; } = "";

    public Guid NetworkId { get; set; }

    public Guid OwnerId { get; set; }

    public Guid HostId { get; set; }

    /// <summary><c>tcp</c> or <c>udp</c>.</summary>
    public string Protocol { get; set; } = "tcp";

    public int HostPort { get; set; }

    public int GuestPort { get; set; }
}

/// <summary>A forward to add to a NIC; without <paramref name="HostPort"/> the portal picks a free one of the allowed range.</summary>
public sealed record NewForward(string NicId, int GuestPort, string Protocol = "tcp", int? HostPort = null);

/// <summary>The VM a forward is for, as its page or the API found it (the caller's rights checked).</summary>
public sealed record ForwardTarget(Guid VmId, string VmName, Guid OwnerId, Guid HostId);

/// <summary>A forward as pages and the API show it: <paramref name="Reach"/> is the host address and port to use.</summary>
public sealed record ForwardView(Guid Id, string NicId, string Protocol, int GuestPort, int HostPort, string Reach);

/// <summary>No such forward on that VM.</summary>
public sealed class ForwardNotFoundException() : Exception("No such port forward.");
