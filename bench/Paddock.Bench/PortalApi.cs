using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Paddock.Bench;

/// <summary>The portal's VM API as a signed-in member sees it (cookie auth, like a browser).</summary>
public sealed partial class PortalApi : IDisposable
{
    private const string ApiHeader = "X-Paddock-Api";

    private readonly HttpClient _http;

    private PortalApi(HttpClient http) => _http = http;

    public static async Task<PortalApi> SignInAsync(string portalUrl, string user, string password, string certificateSha256, CancellationToken ct)
    {
        // No redirects followed: the sign-in answers 302 to "/" on success and to the form on failure.
        var handler = new SocketsHttpHandler { CookieContainer = new CookieContainer(), UseCookies = true, AllowAutoRedirect = false };
        // The portal's self-signed certificate, and no other.
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            certificate is not null && Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())) == certificateSha256;
        var http = new HttpClient(handler) { BaseAddress = new Uri(portalUrl) };
        try
        {
            var form = await http.GetStringAsync("/account/login", ct);
            var token = AntiforgeryToken().Match(form) is { Success: true } m
                ? WebUtility.HtmlDecode(m.Groups["value"].Value)
                : throw new InvalidOperationException("The sign-in form has no __RequestVerificationToken.");
            using var response = await http.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["userName"] = user,
                ["password"] = password,
                ["returnUrl"] = "/",
                ["__RequestVerificationToken"] = token,
            }), ct);
            if (response.StatusCode != HttpStatusCode.Redirect || response.Headers.Location?.OriginalString != "/")
            {
                throw new InvalidOperationException($"Sign-in as {user} failed: {(int)response.StatusCode} to {response.Headers.Location}.");
            }

            http.DefaultRequestHeaders.Add(ApiHeader, "1");
            return new PortalApi(http);
        }
        catch
        {
            http.Dispose();
            throw;
        }
    }

    public async Task<Guid> CreateVmAsync(string name, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync("/api/vms", new { name, vCpus = 1, memoryMiB = 256 }, ct);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"POST /api/vms: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        }

        var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        return body.GetProperty("id").GetGuid();
    }

    /// <summary>What GET /api/vms/{id} says; null when the portal has no such VM (404).</summary>
    public async Task<VmState?> StatusAsync(Guid id, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"/api/vms/{id}", ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        var vm = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        return new VmState(vm.GetProperty("status").GetString()!, Text(vm, "pendingOperation"), Text(vm, "lastError"));
    }

    public async Task RequestAsync(Guid id, string verb, CancellationToken ct)
    {
        using var response = await _http.PostAsync($"/api/vms/{id}/{verb}", null, ct);
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw new InvalidOperationException($"POST /api/vms/{id}/{verb}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        }
    }

    /// <summary>Waits for <paramref name="status"/> with no operation pending (the agent reports Running before create completes).</summary>
    public async Task WaitForStatusAsync(Guid id, string status, TimeSpan within, CancellationToken ct)
    {
        VmState? last = null;
        await Wait.UntilAsync(async () => (last = await StatusAsync(id, ct)) is { PendingOperation: null } vm && vm.Status == status, within,
            $"VM {id} to be {status} (last seen {last?.ToString() ?? "gone"})", ct);
    }

    /// <summary>Pulls the plug and deletes the VM, returning once the portal no longer knows it.</summary>
    public async Task PowerOffAndDeleteAsync(Guid id, CancellationToken ct)
    {
        VmState? vm = null;
        await Wait.UntilAsync(async () => (vm = await StatusAsync(id, ct)) is { PendingOperation: null }, TimeSpan.FromSeconds(60),
            $"VM {id} to finish its operation (last seen {vm?.ToString() ?? "gone"})", ct);
        if (vm!.Status is not ("Stopped" or "Crashed"))
        {
            await RequestAsync(id, "poweroff", ct);
            await WaitForStatusAsync(id, "Stopped", TimeSpan.FromSeconds(30), ct);
        }

        await RequestAsync(id, "delete", ct);
        await Wait.UntilAsync(async () => await StatusAsync(id, ct) is null, TimeSpan.FromSeconds(30), $"VM {id} to be deleted", ct);
    }

    private static string? Text(JsonElement vm, string name) =>
        vm.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public void Dispose() => _http.Dispose();

    // Blazor's <AntiforgeryToken /> renders name before value.
    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*?value=\"(?<value>[^\"]*)\"")]
    private static partial Regex AntiforgeryToken();
}

public sealed record VmState(string Status, string? PendingOperation, string? LastError);
