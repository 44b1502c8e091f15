using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// The walls, route by route: every page, endpoint and hub method the portal maps (asked of the
/// portal itself, at run time) must be in the table of what it takes (WallsMatrixTests.Table.cs), and for each one
/// member B gets for member A's objects exactly what B gets for an id that does not exist, with
/// none of A's data in it.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed partial class WallsMatrixTests(PaddockFixture paddock)
{
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
            $"tara-why-{suffix}", $"tara-net-{suffix}", $"tara-token-{suffix}", $"tara-key-{suffix}"];
        var created = await owner.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = secrets[0], vCpus = 1, memoryMiB = 256 } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        // The built-in ISO with a random tail: an ISO of its own (files are shared by checksum, other tests' uploads must not share it).
        var (status, body) = await paddock.UploadAsync(owner, $"name={secrets[1]}&kind=iso&format=raw",
            [.. await File.ReadAllBytesAsync(Path.Combine(paddock.ImagesDir, "builtin-busybox.iso")), .. System.Security.Cryptography.RandomNumberGenerator.GetBytes(2048)]);
        Assert.True(status == 201, body);
        var image = JsonSerializer.Deserialize<JsonElement>(body);
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

        // A's API token: B can neither see nor revoke it. Then B's own tokens meet the same walls.
        var token = await owner.APIRequest.PostAsync("/api/tokens", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = secrets[7], days = 1 } });
        Assert.True(token.Status == 201, await token.TextAsync());
        var tokenId = (await token.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await ProbeAsync(other, Takes.Token, tokenId, imageFile, secrets);

        // A's SSH key: B can neither see nor delete it, nor put it into a VM of B's.
        var sshKey = await owner.APIRequest.PostAsync("/api/account/ssh-keys", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { name = secrets[8], publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAB+Z2rn38eub8qAgtl4sLdKtcqh3lUojSAEwCa+nrfu a@walls" },
        });
        Assert.True(sshKey.Status == 201, await sshKey.TextAsync());
        var sshKeyId = (await sshKey.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await ProbeAsync(other, Takes.SshKey, sshKeyId, imageFile, secrets);
        object DebianWith(Guid key) => new { name = "b-keyed", vCpus = 1, memoryMiB = 512, templateId = new Guid("0d0c0000-0000-4000-8000-000000000002"), guest = new { sshKeyIds = new[] { key } } };
        Assert.Equal(await AnswerAsync(other, "POST", "/api/vms", DebianWith(Guid.NewGuid()), []), await AnswerAsync(other, "POST", "/api/vms", DebianWith(sshKeyId), [sshKeyId]));
        await TokenWallsAsync(other, new()
        {
            [Takes.Vm] = vmId, [Takes.Request] = requestId, [Takes.Network] = networkId, [Takes.Image] = imageId, [Takes.Template] = templateId, [Takes.Token] = tokenId, [Takes.SshKey] = sshKeyId,
        }, imageFile, secrets);

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

    /// <summary>
    /// Every route of the table that takes <paramref name="takes"/>, as B, with A's id and with a random one;
    /// with <paramref name="api"/> (B's API token) its endpoints only, through it.
    /// </summary>
    private static async Task ProbeAsync(IPage other, Takes takes, Guid foreign, string foreignFile, string[] secrets, IAPIRequestContext? api = null)
    {
        var random = Guid.NewGuid();
        foreach (var (key, entry) in Table.Where(e => e.Value.Takes == takes || e.Value.Takes == Takes.Agents))
        {
            var parts = key.Split(' ');
            var (kind, methods, pattern) = (parts[0], parts[1], parts[2]);
            var method = methods is "*" or "GET,HEAD" or "GET,POST" ? "GET" : methods;
            string Path(Guid id) => PathOf(key, id, id == foreign ? foreignFile : null);

            string foreignAnswer, randomAnswer;
            if (kind == "page" && api is not null)
            {
                continue;
            }

            if (kind == "page")
            {
                foreignAnswer = await PageAsync(other, Path(foreign), [foreign]);
                randomAnswer = await PageAsync(other, Path(random), [random]);
                Assert.Contains("Not found", foreignAnswer);
            }
            else
            {
                foreignAnswer = await AnswerAsync(api ?? other.APIRequest, method, Path(foreign), entry.Body?.Invoke(foreign), [foreign]);
                randomAnswer = await AnswerAsync(api ?? other.APIRequest, method, Path(random), entry.Body?.Invoke(random), [random]);
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
    private static Task<string> AnswerAsync(IPage page, string method, string path, object? body, Guid[] ids) => AnswerAsync(page.APIRequest, method, path, body, ids);

    /// <summary>Status and body of an API call through <paramref name="api"/>, its ids and trace id taken out.</summary>
    private static async Task<string> AnswerAsync(IAPIRequestContext api, string method, string path, object? body, Guid[] ids)
    {
        var options = new APIRequestContextOptions { Method = method, Headers = PaddockFixture.ApiHeaders, MaxRedirects = 0 };
        if (body is not null)
        {
            options.DataObject = body;
        }

        var response = await api.FetchAsync(path, options);
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

    /// <summary>A table entry's path with <paramref name="id"/> in every place for one; <paramref name="file"/> for a file name (by default one made of the id).</summary>
    private static string PathOf(string key, Guid id, string? file = null) => Parameter().Replace(key.Split(' ')[2], m => m.Groups[1].Value switch
    {
        "id" or "Id" or "vmId" => id.ToString(),
        "verb" => "start",
        "name" => "b-snap",
        "kind" => "users",
        "forwardId" or "operationId" => id.ToString(),
        "viewerId" or "shareId" => id.ToString("N"),
        "file" => file ?? $"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(id.ToByteArray()))}.iso",
        "nonce" or "token" => id.ToString("N"),
        "channel" => "memory",
        var other => throw new InvalidOperationException($"{key}: no value for {{{other}}}"),
    });

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
