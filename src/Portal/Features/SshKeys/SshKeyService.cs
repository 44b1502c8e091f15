using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using Paddock.Engine.Guests;

namespace Paddock.Portal.Features.SshKeys;

/// <summary>
/// Each person's SSH public keys: added and deleted by their owner only (another person's key id
/// answers as one that does not exist), and read by a create to put the keys it picks into the
/// guest's cloud-init setup.
/// </summary>
public sealed class SshKeyService(IDocumentStore store, ChangeNotifier<SshKeysChanged> changes, TimeProvider clock)
{
    public const int MaxNameLength = 64;
    public const int MaxPerUser = 50;

    /// <summary>The caller's keys, oldest first.</summary>
    public static async Task<IReadOnlyList<SshKey>> MineAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default) =>
        [.. (await session.Query<SshKey>().Where(k => k.OwnerId == user.UserId()).ToListAsync(ct)).OrderBy(k => k.AddedAt)];

    public async Task<IReadOnlyList<SshKey>> MineAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        return await MineAsync(session, user, ct);
    }

    /// <summary>
    /// The public keys of <paramref name="ids"/>, each one of the caller's; a refusal naming
    /// <paramref name="field"/> for any other id, the same for a stranger's key as for none.
    /// </summary>
    public static async Task<IReadOnlyList<string>> PublicKeysAsync(IQuerySession session, ClaimsPrincipal user, IReadOnlyList<Guid> ids, string field, CancellationToken ct = default)
    {
        var mine = (await MineAsync(session, user, ct)).ToDictionary(k => k.Id);
        return [.. ids.Distinct().Select(id => mine.TryGetValue(id, out var key) ? key.PublicKey : throw new RefusedException("SSH keys: no such key of yours.", field))];
    }

    /// <summary>Adds a key to the caller's profile: a name and one OpenSSH public key line, not one the caller has already.</summary>
    public async Task<SshKey> AddAsync(ClaimsPrincipal user, string? name, string? publicKey, CancellationToken ct = default)
    {
        var trimmed = name?.Trim() ?? "";
        if (trimmed.Length is 0 or > MaxNameLength || trimmed.Any(char.IsControl))
        {
            throw new RefusedException($"Name: 1 to {MaxNameLength} characters, no control characters.", "name");
        }

        var key = (publicKey ?? "").Trim();
        try
        {
            CloudInitRules.CheckSshKeys([key]);
        }
        catch (InvalidCloudInitException e)
        {
            throw new RefusedException(e.Message.Replace("SSH key 1: ", "Public key: ", StringComparison.Ordinal), "publicKey");
        }

        await using var session = store.LightweightSession();
        var mine = await MineAsync(session, user, ct);
        var fingerprint = FingerprintOf(key);
        if (mine.Count >= MaxPerUser)
        {
            throw new RefusedException($"You keep {MaxPerUser} keys already: delete one first.");
        }

        if (mine.FirstOrDefault(k => k.Fingerprint == fingerprint) is { } same)
        {
            throw new RefusedException($"Public key: you keep this key already, as '{same.Name}'.", "publicKey");
        }

        var added = new SshKey { Id = Guid.NewGuid(), OwnerId = user.UserId(), Name = trimmed, PublicKey = key, Fingerprint = fingerprint, AddedAt = clock.GetUtcNow() };
        session.Store(added);
        await session.SaveChangesAsync(ct);
        changes.Publish(new SshKeysChanged(added.OwnerId));
        return added;
    }

    /// <summary>Deletes one of the caller's keys; VMs made with it keep it (their seed has it) until their guest setup is edited.</summary>
    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var key = await session.LoadAsync<SshKey>(id, ct);
        if (key is null || key.OwnerId != user.UserId())
        {
            throw new SshKeyNotFoundException();
        }

        session.Delete(key);
        await session.SaveChangesAsync(ct);
        changes.Publish(new SshKeysChanged(key.OwnerId));
    }

    /// <summary>OpenSSH's fingerprint of a key line: <c>SHA256:</c> and the unpadded base64 of its blob's SHA-256.</summary>
    public static string FingerprintOf(string publicKey) =>
        "SHA256:" + Convert.ToBase64String(SHA256.HashData(Convert.FromBase64String(publicKey.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]))).TrimEnd('=');
}
