using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Paddock.E2e;

/// <summary>
/// A host made for a fuzz test: enrolled with a join token of its own (never the fixture's agent's
/// credential), then spoken for by the test itself over a <see cref="RawHubConnection"/>.
/// </summary>
public sealed record FuzzHost(Guid Id, string Name, string Credential)
{
    /// <summary>The built-in template's image (Paddock:Template:Image): placement needs it registered.</summary>
    public const string BuiltinImage = "builtin-busybox.qcow2";

    public static async Task<FuzzHost> EnrollAsync(PaddockFixture paddock, string name)
    {
        var token = (await paddock.JoinTokenAsync($"{name}, e2e fuzz")).Trim();
        var id = Guid.NewGuid();
        using var http = paddock.NewHttpClient();
        using var answer = await http.PostAsJsonAsync("/agent/enroll", new { token, hostId = id, name });
        Assert.True(answer.IsSuccessStatusCode, $"enrolling {name}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
        return new(id, name, (string)(await answer.Content.ReadFromJsonAsync<JsonObject>())!["credential"]!);
    }

    /// <summary>
    /// What it registers: by default a host nothing is ever placed on (no room, no image, a wall
    /// missing); with <paramref name="room"/> one that wins every placement while it is connected
    /// (a VXLAN endpoint too: VMs on tenant networks go only to hosts that lay them out).
    /// </summary>
    public JsonObject Registration(bool room = false, JsonArray? vms = null) => new()
    {
        ["hostId"] = Id,
        ["name"] = Name,
        ["contractVersion"] = Paddock.Engine.Contract.ContractVersion.Current,
        ["logicalCpus"] = room ? 64 : 0,
        ["memoryBytes"] = room ? 1L << 40 : 0,
        ["diskBytes"] = room ? 1L << 40 : 0,
        ["accelerator"] = "tcg",
        ["acceleratorWarning"] = null,
        ["qemuVersion"] = "fuzz",
        ["confinement"] = room ? "DAC + seccomp" : "unconfined",
        ["vms"] = vms ?? [],
        ["confinementMissing"] = room ? new JsonArray() : new JsonArray("a test host's (it runs no VMs)"),
        ["images"] = room ? new JsonArray(BuiltinImage) : new JsonArray(),
        ["vxlan"] = room ? new JsonObject { ["address"] = "127.0.0.1", ["port"] = 9 } : null,
    };

    /// <summary>Connects and registers; the portal must welcome it.</summary>
    public async Task<RawHubConnection> ConnectAsync(PaddockFixture paddock, JsonObject? registration = null, string? portalUrl = null)
    {
        var connection = await RawHubConnection.ConnectAsync(paddock, Credential, portalUrl);
        var welcome = await connection.InvokeAsync("Register", (registration ?? Registration()).ToJsonString());
        Assert.True(welcome.Error is null && (bool?)welcome.Result?["accepted"] == true, $"{Name} registering: {welcome}");
        return connection;
    }
}
