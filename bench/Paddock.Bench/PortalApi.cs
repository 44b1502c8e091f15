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

    /// <summary>The signed-in client itself (its cookie and API header), for the fault suite's workload.</summary>
    public HttpClient Http => _http;

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

    /// <param name="isolated">One NIC on QEMU's isolated user-mode network instead of the default tenant network: the agent lays out no bridge.</param>
    public async Task<Guid> CreateVmAsync(string name, CancellationToken ct, bool isolated = false)
    {
        object request = isolated ? new { name, vCpus = 1, memoryMiB = 256, nics = new[] { new { isolated = true } } } : new { name, vCpus = 1, memoryMiB = 256 };
        using var response = await _http.PostAsJsonAsync("/api/vms", request, ct);
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

    /// <summary>Asks the portal to move the VM live to host <paramref name="hostId"/> (admins only); returns the migration's id, which its task carries.</summary>
    public async Task<Guid> MigrateAsync(Guid id, Guid hostId, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync($"/api/vms/{id}/migrate", new { hostId }, ct);
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw new InvalidOperationException($"POST /api/vms/{id}/migrate: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        }

        return (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();
    }

    /// <summary>Polls GET /api/vms/{id}/tasks (every ~50 ms) until the task of <paramref name="operationId"/> has ended, and returns it.</summary>
    public async Task<VmTaskView> WaitForTaskAsync(Guid id, Guid operationId, TimeSpan within, CancellationToken ct)
    {
        VmTaskView? task = null;
        await Wait.UntilAsync(async () =>
        {
            var tasks = await _http.GetFromJsonAsync<JsonElement>($"/api/vms/{id}/tasks", ct);
            task = tasks.EnumerateArray().Where(t => t.GetProperty("operationId").GetGuid() == operationId).Select(TaskOf).FirstOrDefault();
            return task is { State: not "Running" };
        }, within, $"task {operationId} of VM {id} to end (last seen {task?.ToString() ?? "not listed"})", ct);
        return task!;
    }

    /// <summary>PUTs <paramref name="body"/> as JSON (an admin's settings: quotas, policies) and fails on anything but a success.</summary>
    public async Task PutAsync(string path, object body, CancellationToken ct)
    {
        using var response = await _http.PutAsJsonAsync(path, body, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        }
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

    private static VmTaskView TaskOf(JsonElement task) => new(
        task.GetProperty("what").GetString()!,
        task.GetProperty("state").GetString()!,
        task.GetProperty("finishedAt") is { ValueKind: JsonValueKind.String } finished ? finished.GetDateTimeOffset() : null,
        Text(task, "message"));

    private static string? Text(JsonElement vm, string name) =>
        vm.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public void Dispose() => _http.Dispose();

    // Blazor's <AntiforgeryToken /> renders name before value.
    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*?value=\"(?<value>[^\"]*)\"")]
    private static partial Regex AntiforgeryToken();
}

public sealed record VmState(string Status, string? PendingOperation, string? LastError);

/// <summary>One of a VM's tasks as GET /api/vms/{id}/tasks lists it: what, how it stands, when it ended (the portal's clock), its message.</summary>
public sealed record VmTaskView(string What, string State, DateTimeOffset? FinishedAt, string? Message);
