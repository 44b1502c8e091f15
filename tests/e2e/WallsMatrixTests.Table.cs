namespace Paddock.E2e;

/// <summary>The walls matrix's table: every route the portal maps, and what it takes.</summary>
public sealed partial class WallsMatrixTests
{
    /// <summary>What a route's id (in its path, or for a create in its body) names.</summary>
    private enum Takes
    {
        /// <summary>Nothing of anyone's: a list or a page of the caller's own (A's data must not be in it).</summary>
        Nothing,

        /// <summary>Acts on the caller's own account only (sign-in, password, sign-out).</summary>
        Self,

        Vm,
        Template,
        Image,
        Request,
        Network,
        Token,
        SshKey,

        /// <summary>Admins only: a member gets 403 whatever it names.</summary>
        Admins,

        /// <summary>Host agents only (their own credential): a person's cookie gets 401 whatever the id.</summary>
        Agents,

        /// <summary>Anyone (signed in, for a share link's page), with a secret of its own (a join token, a share link): nothing of a tenant's without it.</summary>
        Public,

        /// <summary>Blazor's own plumbing (circuits, redirects, static files): it serves the pages of this table.</summary>
        Framework,
    }

    /// <summary>
    /// What a route takes; <paramref name="Static"/> for the pages that render without a circuit (sign-in, password);
    /// <paramref name="Member"/>, for a route that takes a VM, what a fellow member of the owner's group may.
    /// </summary>
    private sealed record Entry(Takes Takes, Func<Guid, object>? Body = null, bool Static = false, Member? Member = null);

    private static readonly Dictionary<string, Entry> Table = new()
    {
        // Pages.
        ["page GET,POST /"] = new(Takes.Nothing),
        ["page GET,POST /vms/{Id:guid}"] = new(Takes.Vm, Member: Member.Uses),
        ["page GET,POST /vms/{Id:guid}/console"] = new(Takes.Vm, Member: Member.Uses),
        ["page GET,POST /vms/{Id:guid}/serial"] = new(Takes.Vm, Member: Member.Uses),
        ["page GET,POST /templates"] = new(Takes.Nothing),
        ["page GET,POST /images"] = new(Takes.Nothing),
        ["page GET,POST /networks"] = new(Takes.Nothing),
        ["page GET,POST /admin/hosts"] = new(Takes.Nothing),
        ["page GET,POST /admin/users"] = new(Takes.Nothing),
        ["page GET,POST /admin/groups"] = new(Takes.Nothing),
        ["page GET,POST /admin/audit"] = new(Takes.Nothing),
        ["page GET,POST /admin/quotas"] = new(Takes.Nothing),
        ["page GET,POST /admin/flavors"] = new(Takes.Nothing),
        ["page GET,POST /admin/capacity"] = new(Takes.Nothing),
        ["page GET,POST /admin/top"] = new(Takes.Nothing),
        ["page GET,POST /admin/isolation"] = new(Takes.Nothing),
        ["page GET,POST /requests"] = new(Takes.Nothing),
        ["page GET,POST /requests/{Id:guid}"] = new(Takes.Request),
        ["page GET,POST /account/login"] = new(Takes.Nothing, Static: true),
        ["page GET,POST /account/password"] = new(Takes.Nothing, Static: true),
        ["page GET,POST /account/denied"] = new(Takes.Nothing),
        ["page GET,POST /account/tokens"] = new(Takes.Nothing),
        ["page GET,POST /api-reference"] = new(Takes.Nothing),
        ["page GET,POST /not-found"] = new(Takes.Nothing),

        // Accounts.
        ["endpoint POST /account/login"] = new(Takes.Self),
        ["endpoint POST /account/password"] = new(Takes.Self),
        ["endpoint POST /account/logout"] = new(Takes.Self),
        ["endpoint GET /api/tokens/"] = new(Takes.Nothing),
        ["endpoint POST /api/tokens/"] = new(Takes.Self),
        ["endpoint DELETE /api/tokens/{id:guid}"] = new(Takes.Token),
        ["page GET,POST /account/ssh-keys"] = new(Takes.Nothing),
        ["endpoint GET /api/account/ssh-keys/"] = new(Takes.Nothing),
        ["endpoint POST /api/account/ssh-keys/"] = new(Takes.Self),
        ["endpoint DELETE /api/account/ssh-keys/{id:guid}"] = new(Takes.SshKey),

        // VMs.
        ["endpoint GET /api/vms/"] = new(Takes.Nothing),
        ["endpoint POST /api/vms/"] = new(Takes.Template, id => new { name = "b-from-foreign", vCpus = 1, memoryMiB = 256, templateId = id }),
        ["endpoint GET /api/vms/{id:guid}"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{id:guid}/tasks"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{id:guid}/stats"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{id:guid}/guest"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{id:guid}/tasks/{operationId:guid}"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint POST /api/vms/{id:guid}/{verb}"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint POST /api/vms/{id:guid}/keys"] = new(Takes.Vm, _ => new { combination = "Ctrl-Alt-Del" }, Member: Member.Uses),
        ["endpoint POST /api/vms/{id:guid}/type"] = new(Takes.Vm, _ => new { text = "b" }, Member: Member.Uses),
        ["endpoint PUT /api/vms/{id:guid}/guest"] = new(Takes.Vm, _ => new { hostname = "b-host" }, Member: Member.OwnerOnly),
        ["endpoint POST /api/vms/{id:guid}/guest/password"] = new(Takes.Vm, _ => new { user = "alice", password = "b-long-enough" }, Member: Member.OwnerOnly),
        ["endpoint POST /api/vms/{id:guid}/snapshots"] = new(Takes.Vm, _ => new { name = "b-snap" }, Member: Member.Uses),
        ["endpoint POST /api/vms/{id:guid}/snapshots/{name}/revert"] = new(Takes.Vm, Member: Member.OwnerOnly),
        ["endpoint DELETE /api/vms/{id:guid}/snapshots/{name}"] = new(Takes.Vm, Member: Member.OwnerOnly),
        ["endpoint POST /api/vms/{id:guid}/clone"] = new(Takes.Vm, _ => new { name = "b-clone" }, Member: Member.OwnerOnly),
        ["endpoint POST /api/vms/{id:guid}/hardware"] = new(Takes.Vm, _ => new { action = "AddDisk", sizeMiB = 64 }, Member: Member.OwnerOnly),
        ["endpoint PUT /api/vms/{id:guid}/group"] = new(Takes.Vm, _ => new { groupId = (Guid?)null }, Member: Member.OwnerOnly),
        ["endpoint PUT /api/vms/{id:guid}/cdrom"] = new(Takes.Vm, _ => new { imageId = (Guid?)null }, Member: Member.Uses),
        ["endpoint PUT /api/vms/{id:guid}/lease"] = new(Takes.Vm, _ => new { leaseMinutes = 60 }, Member: Member.OwnerOnly),
        ["endpoint PUT /api/vms/{id:guid}/settings"] = new(Takes.Vm,
            _ => new { shutdownTimeoutSeconds = 60, restart = "Never", maxRestartsPerHour = 3, bootOrder = "disk,cdrom" }, Member: Member.OwnerOnly),
        ["endpoint GET /api/vms/{id:guid}/forwards"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint POST /api/vms/{id:guid}/forwards"] = new(Takes.Vm, _ => new { nicId = "net0", guestPort = 22 }, Member: Member.OwnerOnly),
        ["endpoint DELETE /api/vms/{id:guid}/forwards/{forwardId:guid}"] = new(Takes.Vm, Member: Member.OwnerOnly),
        ["endpoint POST /api/vms/{id:guid}/template"] = new(Takes.Vm, _ => new { name = "b-stolen" }, Member: Member.OwnerOnly),
        ["endpoint POST /api/vms/{vmId:guid}/console-ticket"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{vmId:guid}/serial-log"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{vmId:guid}/thumbnail"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{id:guid}/console-viewers"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint DELETE /api/vms/{id:guid}/console-viewers/{viewerId}"] = new(Takes.Vm, Member: Member.OwnerOnly),
        ["endpoint GET /api/vms/{id:guid}/console-shares"] = new(Takes.Vm, Member: Member.OwnerOnly),
        ["endpoint POST /api/vms/{id:guid}/console-shares"] = new(Takes.Vm, _ => new { minutes = 60 }, Member: Member.OwnerOnly),
        ["endpoint DELETE /api/vms/{id:guid}/console-shares/{shareId}"] = new(Takes.Vm, Member: Member.OwnerOnly),
        ["endpoint * /console/{vmId:guid}/ws"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint * /console/{vmId:guid}/serial"] = new(Takes.Vm, Member: Member.Uses),
        // A share link's view-only socket: its ticket admits (ConsoleViewersTests), so a stranger gets the same for any id.
        ["endpoint * /console/{vmId:guid}/view"] = new(Takes.Vm, Member: Member.Uses),
        ["page GET,POST /console-share/{Secret}"] = new(Takes.Public),

        // Templates.
        ["endpoint GET /api/requests/"] = new(Takes.Nothing),
        ["endpoint POST /api/requests/"] = new(Takes.Vm, id => new { vmId = id, leaseMinutes = 60, justification = "b wants it" }, Member: Member.OwnerOnly),
        ["endpoint GET /api/requests/{id:guid}"] = new(Takes.Request),
        ["endpoint POST /api/requests/{id:guid}/approve"] = new(Takes.Request, _ => new { raiseQuota = true }),
        ["endpoint POST /api/requests/{id:guid}/reject"] = new(Takes.Request, _ => new { reason = "b says no" }),
        ["endpoint POST /api/requests/{id:guid}/withdraw"] = new(Takes.Request),
        ["endpoint GET /api/quota"] = new(Takes.Nothing),
        ["endpoint GET /api/flavors"] = new(Takes.Nothing),
        ["endpoint PUT /api/quotas/{kind}/{name}"] = new(Takes.Admins, _ => new { limits = new { vms = 1000 } }),
        ["endpoint GET /api/policy"] = new(Takes.Nothing),
        ["endpoint PUT /api/policy"] = new(Takes.Admins, _ => new { customSizes = false }),
        ["endpoint GET /api/capacity"] = new(Takes.Admins),
        ["endpoint POST /api/hosts/join-tokens"] = new(Takes.Admins, _ => new { note = "from a member" }),
        ["endpoint POST /api/vms/{id:guid}/isolation/resolve"] = new(Takes.Admins),
        ["endpoint POST /api/vms/{id:guid}/migrate"] = new(Takes.Admins, _ => new { hostId = (Guid?)null }),
        ["endpoint POST /api/vms/{id:guid}/migration/cancel"] = new(Takes.Admins),
        ["endpoint GET /api/vms/{id:guid}/migration"] = new(Takes.Admins),
        ["endpoint PUT /api/hosts/{id:guid}/maintenance"] = new(Takes.Admins, _ => new { maintenance = true }),
        ["endpoint GET /api/hosts/{id:guid}/evacuation-plan"] = new(Takes.Admins),
        ["endpoint GET /api/hosts/{id:guid}/evacuation"] = new(Takes.Admins),
        ["endpoint POST /api/hosts/{id:guid}/evacuation/cancel"] = new(Takes.Admins),
        ["endpoint PUT /api/hosts/{id:guid}/unconfined"] = new(Takes.Admins, _ => new { allowed = true }),
        ["endpoint PUT /api/hosts/{id:guid}/policy"] = new(Takes.Admins, _ => new { policy = (object?)null }),
        ["endpoint PUT /api/policy/overcommit"] = new(Takes.Admins, _ => new { cpuRatio = 64 }),
        ["endpoint * /api/metrics"] = new(Takes.Admins),

        ["endpoint GET /api/templates/"] = new(Takes.Nothing),
        ["endpoint GET /api/templates/{id:guid}"] = new(Takes.Template),
        ["endpoint PUT /api/templates/{id:guid}"] = new(Takes.Template, _ => new { name = "b-renamed", description = "", vCpus = 1, memoryMiB = 256 }),
        ["endpoint PUT /api/templates/{id:guid}/visibility"] = new(Takes.Template, _ => new { visibility = "Everyone" }),
        ["endpoint DELETE /api/templates/{id:guid}"] = new(Takes.Template),

        // Images.
        ["endpoint GET /api/images/"] = new(Takes.Nothing),
        ["endpoint GET /api/images/limits"] = new(Takes.Nothing),
        ["endpoint POST /api/images/"] = new(Takes.Self),
        ["endpoint GET /api/images/{id:guid}"] = new(Takes.Image),
        ["endpoint DELETE /api/images/{id:guid}"] = new(Takes.Image),
        ["endpoint PUT /api/images/{id:guid}/visibility"] = new(Takes.Image, _ => new { visibility = "Everyone" }),

        // Networks.
        ["endpoint GET /api/networks/"] = new(Takes.Nothing),
        ["endpoint POST /api/networks/"] = new(Takes.Self),
        ["endpoint POST /api/networks/providers"] = new(Takes.Admins, _ => new { name = "b-outside", @interface = "eth1", everyone = true }),
        ["endpoint GET /api/networks/{id:guid}"] = new(Takes.Network),
        ["endpoint PUT /api/networks/{id:guid}"] = new(Takes.Network, _ => new { name = "b-renamed", nat = false }),
        ["endpoint DELETE /api/networks/{id:guid}"] = new(Takes.Network),

        // Host agents.
        ["endpoint GET /agent/images/{file}"] = new(Takes.Agents),
        ["endpoint PUT /agent/images/{file}"] = new(Takes.Agents),
        ["endpoint * /console/agent/{nonce}"] = new(Takes.Agents),
        ["endpoint * /migration/agent/{token}/{channel}"] = new(Takes.Agents),
        ["hub * /hubs/hosts"] = new(Takes.Agents),
        ["hub * /hubs/hosts/negotiate"] = new(Takes.Agents),
        ["endpoint POST /agent/enroll"] = new(Takes.Public),
        ["endpoint GET,HEAD /healthz"] = new(Takes.Public),
        ["endpoint GET,HEAD /readyz"] = new(Takes.Public),
        ["endpoint GET /openapi/{documentName}.json"] = new(Takes.Public),

        // Blazor.
        ["hub * /_blazor"] = new(Takes.Framework),
        ["hub * /_blazor/negotiate"] = new(Takes.Framework),
        ["endpoint * /_blazor/disconnect/"] = new(Takes.Framework),
        ["endpoint * /_blazor/initializers/"] = new(Takes.Framework),
        ["endpoint GET /_framework/opaque-redirect"] = new(Takes.Framework),
        ["endpoint GET,HEAD /{**path:file}"] = new(Takes.Framework),
    };

    /// <summary>Hub methods, by hub: the agents' hub speaks only for the host its credential names; Blazor's serves circuits.</summary>
    private static readonly Dictionary<string, string[]> HubMethods = new()
    {
        // Register refuses a host id other than the credential's; reports go to the registered host only.
        ["Paddock.Portal.Features.Agents.HostAgentHub"] = ["Register", "ReportOperation", "ReportUsage", "ReportVm"],
        ["Microsoft.AspNetCore.Components.Server.ComponentHub"] =
        [
            "BeginInvokeDotNetFromJS", "ConnectCircuit", "EndInvokeJSFromDotNet", "OnLocationChanged", "OnLocationChanging", "OnRenderCompleted",
            "PauseCircuit", "ReceiveByteArray", "ReceiveJSDataChunk", "ResumeCircuit", "SendDotNetStreamToJS", "StartCircuit", "UpdateRootComponents",
        ],
    };
}
