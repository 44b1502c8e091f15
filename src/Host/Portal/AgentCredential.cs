using System.Net.Http.Json;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;

namespace Paddock.Host.Portal;

/// <summary>The portal refused the join token or the host's credential; the sentence says what to do.</summary>
public sealed class EnrollmentRefusedException(string message) : Exception(message);

/// <summary>
/// The host's own credential. The first time (or when given a join token it has not used yet) the
/// agent trades the join token for it at <c>/agent/enroll</c> and keeps it in its state directory,
/// readable by root alone; from then on only the credential is presented. The portal takes a new
/// token for a host id it knows only once an admin revoked that host (409 otherwise).
/// </summary>
public sealed class AgentCredential(IOptions<AgentOptions> options, HostIdentity identity, PortalTrust trust, ILogger<AgentCredential> log)
    : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private string? _credential;

    private string CredentialFile => Path.Combine(options.Value.StateDir, "credential");

    private string SpentTokenFile => Path.Combine(options.Value.StateDir, "join-token-spent");

    /// <summary>The credential to present; enrols first when there is none yet or a new join token was given.</summary>
    public async Task<string> GetAsync(CancellationToken ct = default)
    {
        if (_credential is { } known)
        {
            return known;
        }

        await _lock.WaitAsync(ct);
        try
        {
            if (_credential is not null)
            {
                return _credential;
            }

            var token = options.Value.JoinToken?.Trim();
            var stored = File.Exists(CredentialFile) ? (await File.ReadAllTextAsync(CredentialFile, ct)).Trim() : null;
            var spent = File.Exists(SpentTokenFile) ? (await File.ReadAllTextAsync(SpentTokenFile, ct)).Trim() : null;
            if (!string.IsNullOrEmpty(token) && token != spent)
            {
                _credential = await EnrollAsync(token, ct);
            }
            else if (!string.IsNullOrEmpty(stored))
            {
                _credential = stored;
            }
            else
            {
                throw new EnrollmentRefusedException(
                    "This host has not joined yet: start the agent with Agent:JoinToken, made by an admin on the portal's Hosts page (Add host).");
            }

            return _credential;
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task<string> EnrollAsync(string token, CancellationToken ct)
    {
        using var http = trust.CreateClient(TimeSpan.FromSeconds(30));
        var name = options.Value.Name ?? Environment.MachineName;
        using var response = await http.PostAsJsonAsync(EnrollRequest.EnrollPath, new EnrollRequest(token, identity.Id, name), ct);
        if (!response.IsSuccessStatusCode)
        {
            var problem = await response.Content.ReadFromJsonAsync<ProblemTitle>(ct)
                .ContinueWith(t => t.IsCompletedSuccessfully ? t.Result?.Title : null, TaskScheduler.Default);
            throw new EnrollmentRefusedException($"The portal refused the join token ({(int)response.StatusCode}): {problem ?? "no reason given"}");
        }

        var credential = (await response.Content.ReadFromJsonAsync<EnrollResponse>(ct))!.Credential;
        Directory.CreateDirectory(options.Value.StateDir);
        await WriteSecretAsync(CredentialFile, credential, ct);
        // Spent: a restart with the same token in its settings uses the credential, not the token again.
        await WriteSecretAsync(SpentTokenFile, token, ct);
        log.LogInformation("Joined the portal as host {Host}; its credential is kept in {File}", identity.Id, CredentialFile);
        return credential;
    }

    private static async Task WriteSecretAsync(string path, string content, CancellationToken ct)
    {
        var partial = path + ".partial";
        var create = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var file = new FileStream(partial, create))
        await using (var writer = new StreamWriter(file))
        {
            await writer.WriteAsync(content.AsMemory(), ct);
        }

        File.Move(partial, path, overwrite: true);
    }

    public void Dispose() => _lock.Dispose();

    private sealed record ProblemTitle(string? Title);
}
