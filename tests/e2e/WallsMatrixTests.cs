using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// The walls, route by route: every page, endpoint and hub method the portal maps (asked of the
/// portal itself, at run time) must be in this file's table of what it takes, and for each one
/// member B gets for member A's objects exactly what B gets for an id that does not exist, with
/// none of A's data in it.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class WallsMatrixTests(PaddockFixture paddock)
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

        /// <summary>Admins only: a member gets 403 whatever it names.</summary>
        Admins,

        /// <summary>Host agents only (their own credential): a person's cookie gets 401 whatever the id.</summary>
        Agents,

        /// <summary>Anyone, with a secret of its own (a join token): nothing of a tenant's.</summary>
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
        ["page GET,POST /admin/isolation"] = new(Takes.Nothing),
        ["page GET,POST /requests"] = new(Takes.Nothing),
        ["page GET,POST /requests/{Id:guid}"] = new(Takes.Request),
        ["page GET,POST /account/login"] = new(Takes.Nothing, Static: true),
        ["page GET,POST /account/password"] = new(Takes.Nothing, Static: true),
        ["page GET,POST /account/denied"] = new(Takes.Nothing),
        ["page GET,POST /not-found"] = new(Takes.Nothing),

        // Accounts.
        ["endpoint POST /account/login"] = new(Takes.Self),
        ["endpoint POST /account/password"] = new(Takes.Self),
        ["endpoint POST /account/logout"] = new(Takes.Self),

        // VMs.
        ["endpoint GET /api/vms/"] = new(Takes.Nothing),
        ["endpoint POST /api/vms/"] = new(Takes.Template, id => new { name = "b-from-foreign", vCpus = 1, memoryMiB = 256, templateId = id }),
        ["endpoint GET /api/vms/{id:guid}"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{id:guid}/tasks"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint GET /api/vms/{id:guid}/tasks/{operationId:guid}"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint POST /api/vms/{id:guid}/{verb}"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint POST /api/vms/{id:guid}/keys"] = new(Takes.Vm, _ => new { combination = "Ctrl-Alt-Del" }, Member: Member.Uses),
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
        ["endpoint * /console/{vmId:guid}/ws"] = new(Takes.Vm, Member: Member.Uses),
        ["endpoint * /console/{vmId:guid}/serial"] = new(Takes.Vm, Member: Member.Uses),

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

    [Fact]
    public async Task Every_route_and_hub_method_is_in_the_table_and_member_b_gets_for_member_as_objects_what_a_random_id_gets()
    {
        // What the portal maps, from the portal.
        var mapped = (await paddock.PortalCliAsync("routes")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var routes = mapped.Where(r => (string)r["kind"]! != "static").ToDictionary(r => $"{r["kind"]} {r["methods"]} {r["route"]}");
        Assert.Empty(routes.Keys.Except(Table.Keys));
        Assert.Empty(Table.Keys.Except(routes.Keys));
        foreach (var hub in routes.Values.Where(r => (string)r["kind"]! == "hub"))
        {
            Assert.True(HubMethods.TryGetValue((string)hub["type"]!, out var known), $"hub {hub["type"]} is not in the table");
            Assert.Equal(known, hub["hubMethods"]!.AsArray().Select(m => (string)m!).ToArray());
        }

        Assert.True((int)mapped.Single(r => (string)r["kind"]! == "static")["count"]! > 0);

        // Member A's objects: a running VM and an ISO; later a template made of the VM.
        var owner = await paddock.SignInAsync(PaddockFixture.Tara);
        var other = await paddock.SignInAsync(PaddockFixture.Ugo);
        var suffix = Guid.NewGuid().ToString("N")[..6];
        string[] secrets = [$"tara-vm-{suffix}", $"tara-iso-{suffix}", $"tara-template-{suffix}", PaddockFixture.Tara, $"tara-request-{suffix}",
            $"tara-why-{suffix}", $"tara-net-{suffix}"];
        var created = await owner.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = secrets[0], vCpus = 1, memoryMiB = 256 } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        var upload = await owner.APIRequest.PostAsync($"/api/images?name={secrets[1]}&kind=iso&format=raw", new()
        {
            Headers = new Dictionary<string, string>(PaddockFixture.ApiHeaders) { ["Content-Type"] = "application/octet-stream" },
            // The built-in ISO with a random tail: an ISO of its own (files are shared by checksum, other tests' uploads must not share it).
            DataByte = [.. await File.ReadAllBytesAsync(Path.Combine(paddock.ImagesDir, "builtin-busybox.iso")),
                .. System.Security.Cryptography.RandomNumberGenerator.GetBytes(2048)],
        });
        Assert.True(upload.Status == 201, await upload.TextAsync());
        var image = (await upload.JsonAsync())!.Value;
        var imageId = image.GetProperty("id").GetGuid();
        var imageFile = $"{image.GetProperty("sha256").GetString()}.iso";
        await PaddockFixture.RunningAndIdleAsync(owner, vmId);

        // A's request for a VM beyond the default quota: it waits for an admin.
        var asked = await owner.APIRequest.PostAsync("/api/requests", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { vm = new { name = secrets[4], vCpus = 1, memoryMiB = 65536 }, justification = secrets[5] },
        });
        Assert.True(asked.Status == 201, await asked.TextAsync());
        var requestId = (await asked.JsonAsync())!.Value.GetProperty("id").GetGuid();

        await ProbeAsync(other, Takes.Vm, vmId, imageFile, secrets);
        await ProbeAsync(other, Takes.Request, requestId, imageFile, secrets);

        // A's network: B's VM cannot have a NIC on it either.
        var network = await owner.APIRequest.PostAsync("/api/networks",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = secrets[6], cidr = "10.200.0.0/24" } });
        Assert.True(network.Status == 201, await network.TextAsync());
        var networkId = (await network.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await ProbeAsync(other, Takes.Network, networkId, imageFile, secrets);
        Assert.Equal(
            await AnswerAsync(other, "POST", "/api/vms", new { name = "b-on-net", vCpus = 1, memoryMiB = 256, nics = new[] { new { networkId = Guid.NewGuid() } } }, []),
            await AnswerAsync(other, "POST", "/api/vms", new { name = "b-on-net", vCpus = 1, memoryMiB = 256, nics = new[] { new { networkId } } }, [networkId]));

        // Admin-only routes refuse a member, whatever they name.
        foreach (var (key, entry) in Table.Where(e => e.Value.Takes == Takes.Admins))
        {
            var parts = key.Split(' ');
            var path = Parameter()
                .Replace(parts[2], m => m.Groups[1].Value switch { "kind" => "users", "id" => Guid.NewGuid().ToString(), _ => PaddockFixture.Ugo });
            Assert.StartsWith("403 ", await AnswerAsync(other, parts[1] == "*" ? "GET" : parts[1], path, entry.Body?.Invoke(Guid.Empty), []));
        }
        await ProbeAsync(other, Takes.Image, imageId, imageFile, secrets);

        // The same VM as A's template.
        Assert.Equal(202, (await owner.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(owner, vmId) == "Stopped", PaddockFixture.Boot, "A's VM to stop");
        await Eventually.Async(async () =>
        {
            var convert = await owner.APIRequest.PostAsync($"/api/vms/{vmId}/template",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = secrets[2] } });
            return convert.Status == 202;
        }, TimeSpan.FromSeconds(30), "the conversion to be accepted once the power-off task ended");
        var templateId = await TemplateIdAsync(owner, secrets[2]);
        await Eventually.Async(
            async () => (await (await owner.APIRequest.GetAsync($"/api/templates/{templateId}")).JsonAsync())!.Value
                .GetProperty("state").GetString() == "Ready",
            TimeSpan.FromSeconds(90), "A's template to be ready");
        await ProbeAsync(other, Takes.Template, templateId, imageFile, secrets);

        // Creating from A's ISO is the same refusal as from an ISO that does not exist.
        Assert.Equal(
            await AnswerAsync(other, "POST", "/api/vms", new { name = "b-from-iso", vCpus = 1, memoryMiB = 256, imageId = Guid.NewGuid() }, []),
            await AnswerAsync(other, "POST", "/api/vms", new { name = "b-from-iso", vCpus = 1, memoryMiB = 256, imageId }, [imageId]));

        // Pages and lists that take nothing show B nothing of A's.
        foreach (var (key, entry) in Table.Where(e => e.Value.Takes == Takes.Nothing))
        {
            var route = key.Split(' ')[2];
            string seen;
            if (key.StartsWith("page", StringComparison.Ordinal))
            {
                await other.GotoAsync(route);
                if (!entry.Static)
                {
                    await PaddockFixture.InteractiveAsync(other);
                }

                seen = await other.Locator("body").InnerTextAsync();
            }
            else
            {
                seen = await (await other.APIRequest.GetAsync(route)).TextAsync();
            }

            foreach (var secret in secrets)
            {
                Assert.False(seen.Contains(secret, StringComparison.Ordinal), $"{key} shows B '{secret}'");
            }
        }

        // Nothing B tried changed A's objects or made B anything.
        Assert.Equal(200, (await owner.APIRequest.GetAsync($"/api/templates/{templateId}")).Status);
        Assert.Equal(200, (await owner.APIRequest.GetAsync($"/api/images/{imageId}")).Status);
        Assert.Equal(secrets[6], (await (await owner.APIRequest.GetAsync($"/api/networks/{networkId}")).JsonAsync())!.Value.GetProperty("name").GetString());
        Assert.Equal("Private", (await (await owner.APIRequest.GetAsync($"/api/images/{imageId}")).JsonAsync())!.Value.GetProperty("visibility").GetString());
        Assert.Equal(0, (await (await other.APIRequest.GetAsync("/api/vms")).JsonAsync())!.Value.GetArrayLength());
        Assert.Equal(0, (await (await other.APIRequest.GetAsync("/api/requests")).JsonAsync())!.Value.GetArrayLength());
        Assert.Equal("Pending", (await (await owner.APIRequest.GetAsync($"/api/requests/{requestId}")).JsonAsync())!.Value.GetProperty("state").GetString());
        await owner.Context.CloseAsync();
        await other.Context.CloseAsync();
    }

    /// <summary>Every route of the table that takes <paramref name="takes"/>, as B, with A's id and with a random one.</summary>
    private static async Task ProbeAsync(IPage other, Takes takes, Guid foreign, string foreignFile, string[] secrets)
    {
        var random = Guid.NewGuid();
        foreach (var (key, entry) in Table.Where(e => e.Value.Takes == takes || e.Value.Takes == Takes.Agents))
        {
            var parts = key.Split(' ');
            var (kind, methods, pattern) = (parts[0], parts[1], parts[2]);
            var method = methods is "*" or "GET,HEAD" or "GET,POST" ? "GET" : methods;
            string Path(Guid id) => Parameter().Replace(pattern, m => m.Groups[1].Value switch
            {
                "id" or "Id" or "vmId" => id.ToString(),
                "verb" => "start",
                "name" => "b-snap",
                "forwardId" or "operationId" => id.ToString(),
                "file" => id == foreign ? foreignFile : $"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(id.ToByteArray()))}.iso",
                "nonce" or "token" => id.ToString("N"),
                "channel" => "memory",
                var other => throw new InvalidOperationException($"{key}: no value for {{{other}}}"),
            });

            string foreignAnswer, randomAnswer;
            if (kind == "page")
            {
                foreignAnswer = await PageAsync(other, Path(foreign), [foreign]);
                randomAnswer = await PageAsync(other, Path(random), [random]);
                Assert.Contains("Not found", foreignAnswer);
            }
            else
            {
                foreignAnswer = await AnswerAsync(other, method, Path(foreign), entry.Body?.Invoke(foreign), [foreign]);
                randomAnswer = await AnswerAsync(other, method, Path(random), entry.Body?.Invoke(random), [random]);
                var status = int.Parse(foreignAnswer.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(status is >= 400 and < 500, $"{key} answered B {foreignAnswer}");
                if (entry.Takes == Takes.Agents)
                {
                    Assert.Equal(401, status);
                }
            }

            Assert.True(randomAnswer == foreignAnswer, $"{key}: A's {takes} got «{foreignAnswer}», a random id «{randomAnswer}»");
            foreach (var secret in secrets)
            {
                Assert.False(foreignAnswer.Contains(secret, StringComparison.Ordinal), $"{key} shows B '{secret}'");
            }
        }
    }

    /// <summary>Status and body of an API call as the page's user, its ids and trace id taken out.</summary>
    private static async Task<string> AnswerAsync(IPage page, string method, string path, object? body, Guid[] ids)
    {
        var options = new APIRequestContextOptions { Method = method, Headers = PaddockFixture.ApiHeaders, MaxRedirects = 0 };
        if (body is not null)
        {
            options.DataObject = body;
        }

        var response = await page.APIRequest.FetchAsync(path, options);
        var text = await response.TextAsync();
        try
        {
            if (JsonNode.Parse(text) is JsonObject problem)
            {
                problem.Remove("traceId");
                text = problem.ToJsonString();
            }
        }
        catch (JsonException)
        {
            // Not JSON: compared as it is.
        }

        return $"{response.Status} {WithoutIds(text, ids)}";
    }

    /// <summary>HTTP status and what the page finally shows, as the page's user.</summary>
    private static async Task<string> PageAsync(IPage page, string path, Guid[] ids)
    {
        var response = await page.GotoAsync(path);
        await PaddockFixture.InteractiveAsync(page);
        await page.GetByRole(AriaRole.Heading, new() { Name = "Not found" }).Or(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).First.WaitForAsync();
        return $"{response!.Status} {WithoutIds(await page.Locator("main").InnerTextAsync(), ids)}";
    }

    private static string WithoutIds(string text, Guid[] ids) =>
        ids.Aggregate(text,
            (t, id) => t.Replace(id.ToString(), "{id}", StringComparison.OrdinalIgnoreCase)
                .Replace(id.ToString("N"), "{id}", StringComparison.OrdinalIgnoreCase));

    private static async Task<Guid> TemplateIdAsync(IPage page, string name)
    {
        Guid? found = null;
        await Eventually.Async(async () =>
        {
            var all = (await (await page.APIRequest.GetAsync("/api/templates")).JsonAsync())!.Value;
            found = all.EnumerateArray().Where(t => t.GetProperty("name").GetString() == name).Select(t => t.GetProperty("id").GetGuid())
                .Cast<Guid?>().FirstOrDefault();
            return found is not null;
        }, TimeSpan.FromSeconds(30), $"template {name}");
        return found!.Value;
    }

    [GeneratedRegex(@"\{\**([A-Za-z]+)(?::[a-z]+)?\}")]
    private static partial Regex Parameter();
}
