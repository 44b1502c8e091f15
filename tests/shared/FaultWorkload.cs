using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Paddock.Testing;

/// <summary>What one request of the workload got back from the portal.</summary>
public enum Answer
{
    /// <summary>202: the portal recorded the operation.</summary>
    Accepted,

    /// <summary>A 4xx or 503: nothing was recorded, and the caller was told so.</summary>
    Refused,

    /// <summary>No answer (the portal died under it): recorded or not, the VM's tasks tell.</summary>
    Unknown,
}

/// <summary>
/// A small mixed workload on one VM through the portal's API, one operation at a time, as a person
/// clicking: pause, resume, power off, snapshot (of the stopped VM), start, round and round. Each
/// operation is chosen by the VM's state, so one that ran although its answer was lost does not
/// throw the cycle off. Requests are never repeated: a lost answer stays lost, and the count of the
/// VM's tasks says whether the portal recorded it.
/// </summary>
public sealed class FaultWorkload(HttpClient api, Guid vmId)
{
    private bool _resumed;
    private bool _snapshotted;
    private int _snapshots;

    public Guid VmId { get; } = vmId;

    /// <summary>Every request made, with its answer.</summary>
    public List<(string Verb, Answer Answer)> Requests { get; } = [];

    /// <summary>Asks for the next operation; the answer is recorded, never thrown.</summary>
    /// <summary>The last refusal's verb, status and problem, for a failure's message.</summary>
    public string? LastRefusal { get; private set; }

    public async Task NextAsync(string status, CancellationToken ct)
    {
        var (verb, request) = Next(status);
        Answer answer;
        try
        {
            using var response = await api.SendAsync(request, ct);
            answer = response.StatusCode == HttpStatusCode.Accepted ? Answer.Accepted
                : (int)response.StatusCode is >= 400 and < 500 or 503 ? Answer.Refused
                : Answer.Unknown;
            if (answer == Answer.Refused)
            {
                var body = await response.Content.ReadAsStringAsync(ct);
                LastRefusal = $"{verb}: {(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}";
            }
        }
        catch (HttpRequestException)
        {
            answer = Answer.Unknown;
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            answer = Answer.Unknown;
        }

        Requests.Add((verb, answer));
    }

    private (string Verb, HttpRequestMessage Request) Next(string status)
    {
        var path = $"/api/vms/{VmId}";
        switch (status)
        {
            case "Paused":
                _resumed = true;
                return ("resume", new(HttpMethod.Post, $"{path}/resume"));
            case "Running":
                var pause = !_resumed;
                _resumed = false;
                return pause ? ("pause", new(HttpMethod.Post, $"{path}/pause")) : ("poweroff", new(HttpMethod.Post, $"{path}/poweroff"));
            default:
                _snapshotted = !_snapshotted;
                return _snapshotted
                    ? ("snapshot", new(HttpMethod.Post, $"{path}/snapshots") { Content = JsonContent.Create(new { name = $"f{++_snapshots}-{Guid.NewGuid():N}"[..24] }) })
                    : ("start", new(HttpMethod.Post, $"{path}/start"));
        }
    }

    /// <summary>The VM as the API shows it: its status and whether a task holds it; null while the portal does not answer.</summary>
    public async Task<(string Status, bool Idle)?> ReadAsync(CancellationToken ct)
    {
        try
        {
            using var response = await api.GetAsync($"/api/vms/{VmId}", ct);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            var vm = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
            return (vm.GetProperty("status").GetString()!, vm.GetProperty("pendingOperation").ValueKind == JsonValueKind.Null);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return null;
        }
    }

    /// <summary>The VM's tasks but its Create: operation id, verb and state, as the API lists them.</summary>
    public async Task<IReadOnlyList<(Guid Id, string Verb, string State)>> TasksAsync(CancellationToken ct)
    {
        var tasks = await api.GetFromJsonAsync<JsonElement>($"/api/vms/{VmId}/tasks", ct);
        return [.. tasks.EnumerateArray()
            .Select(t => (t.GetProperty("operationId").GetGuid(), t.GetProperty("verb").GetString()!, t.GetProperty("state").GetString()!))
            .Where(t => t.Item2 != "Create")];
    }
}
