using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Engine.Images;
using Paddock.Engine.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// The host's image store as a cache of the portal's library: an image named by its checksum that
/// is not here yet is fetched from the portal, verified against that checksum, and only then put
/// in place (read-only, the agent's alone: <see cref="ImageAccess"/> lets in the VMs that use it). Several hosts thus work without shared storage.
/// </summary>
public sealed partial class ImageCache(IOptions<AgentOptions> options, Portal.AgentCredential credential, Portal.PortalTrust trust, ILogger<ImageCache> log)
{
    private readonly ImageStore _store = new(Directory.CreateDirectory(options.Value.ImagesDir).FullName);
    private readonly ConcurrentDictionary<string, Lazy<Task>> _fetching = new();

    /// <summary>How far each transfer under way has got: bytes received and the size the portal gave (0 when it gave none).</summary>
    private readonly ConcurrentDictionary<string, StrongBox<(long Done, long Total)>> _received = new();
    private readonly HttpClient _http = trust.CreateClient(TimeSpan.FromHours(1));

    public string Root => _store.Directory;

    /// <summary>
    /// The image's path on this host, fetching it first when it is a library image not cached yet;
    /// <paramref name="progress"/> hears how much of it has come, every half second meanwhile.
    /// </summary>
    public async Task<string> EnsureAsync(string fileName, CancellationToken ct, IProgress<WorkDone>? progress = null)
    {
        var path = _store.Resolve(fileName);
        if (File.Exists(path))
        {
            return path;
        }

        if (LibraryName().Match(fileName) is not { Success: true } match)
        {
            throw new FileNotFoundException($"Image '{fileName}' is not on this host.");
        }

        // One transfer per image, however many VMs wait for it.
        var fetch = _fetching.GetOrAdd(fileName, name => new Lazy<Task>(() => FetchAsync(name, match.Groups[1].Value, path)));
        try
        {
            while (progress is not null && !fetch.Value.IsCompleted)
            {
                // A cancelled delay ends WhenAny at once: without this the loop would spin until the fetch ends.
                ct.ThrowIfCancellationRequested();
                if (_received.TryGetValue(fileName, out var received) && received.Value is { Total: > 0 } now)
                {
                    progress.Report(new WorkDone(Math.Min(now.Done, now.Total), now.Total, WorkDone.Bytes));
                }

                await Task.WhenAny(fetch.Value, Task.Delay(TimeSpan.FromMilliseconds(500), ct));
            }

            await fetch.Value.WaitAsync(ct);
        }
        finally
        {
            _fetching.TryRemove(new KeyValuePair<string, Lazy<Task>>(fileName, fetch));
        }

        return path;
    }

    /// <summary>
    /// Removes what an agent killed mid-fetch or mid-conversion left (<c>.partial-*</c>, the cache's
    /// own names in its own directory); how many. Called once at start, before anything fetches.
    /// </summary>
    public int SweepPartials()
    {
        var partials = Directory.EnumerateFiles(_store.Directory, ".partial-*").ToList();
        foreach (var partial in partials)
        {
            File.Delete(partial);
        }

        return partials.Count;
    }

    /// <summary>
    /// Flattens a VM's disk into a standalone qcow2 in the store, named by its checksum like every
    /// library image, read-only and the agent's alone. Written under a temporary name, renamed whole.
    /// </summary>
    public async Task<(string FileName, string Sha256, long Bytes)> AddFlattenedAsync(Guid vmId, Func<string, Task> copyInto, CancellationToken ct)
    {
        var partial = _store.Resolve($".partial-{vmId:N}.qcow2");
        File.Delete(partial);
        try
        {
            // Filled as the VM's uid (its disk's header is the guest's), then taken back before it is read.
            await copyInto(partial);
            RunDirectory.TakeBack(partial);
            var sha256 = await ImageImport.Sha256Async(partial, ct);
            var fileName = $"{sha256}.qcow2";
            var path = _store.Resolve(fileName);
            if (!OperatingSystem.IsWindows())
            {
                // The agent's alone: VMs that use it are let in one uid at a time (ImageAccess).
                File.SetUnixFileMode(partial, UnixFileMode.UserRead);
            }

            if (!File.Exists(path))
            {
                File.Move(partial, path);
            }

            return (fileName, sha256, new FileInfo(path).Length);
        }
        finally
        {
            File.Delete(partial);
        }
    }

    /// <summary>Hands an image of this store to the portal's library (which checks its checksum and that it names no other file).</summary>
    public async Task UploadAsync(string fileName, CancellationToken ct)
    {
        var path = _store.Resolve(fileName);
        await using var file = File.OpenRead(path);
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/agent/images/{fileName}") { Content = new StreamContent(file, 1 << 20) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await credential.GetAsync(ct));
        using var response = await _http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException(
                $"The portal did not take image '{fileName}' into its library ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(ct)}");
        }

        log.LogInformation("Handed image {Image} to the portal's library", fileName);
    }

    private async Task FetchAsync(string fileName, string sha256, string path)
    {
        var partial = _store.Resolve($".partial-{fileName}");
        File.Delete(partial);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/agent/images/{fileName}");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await credential.GetAsync());
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
            {
                throw new FileNotFoundException($"The portal has no image '{fileName}' ({(int)response.StatusCode}).");
            }

            var room = DiskRoom.At(_store.Directory, "fetching the image from the portal", response.Content.Headers.ContentLength ?? 0);
            string actual;
            try
            {
                var received = _received[fileName] = new StrongBox<(long, long)>((0, response.Content.Headers.ContentLength ?? 0));
                try
                {
                    actual = await ReceiveAsync(response, partial, received);
                }
                finally
                {
                    _received.TryRemove(fileName, out _);
                }
            }
            catch (IOException e) when (room.Full(e) is { } full)
            {
                throw full;
            }

            if (actual != sha256)
            {
                throw new InvalidDataException($"Image '{fileName}' arrived with checksum {actual}; it was discarded.");
            }

            if (!OperatingSystem.IsWindows())
            {
                // The agent's alone: VMs that use it are let in one uid at a time (ImageAccess).
                File.SetUnixFileMode(partial, UnixFileMode.UserRead);
            }

            File.Move(partial, path, overwrite: true);
            log.LogInformation("Fetched image {Image} from the portal ({Bytes} bytes, checksum verified)", fileName, new FileInfo(path).Length);
        }
        finally
        {
            File.Delete(partial);
        }
    }

    /// <summary>The response's body into the new file <paramref name="partial"/>; its SHA-256.</summary>
    private static async Task<string> ReceiveAsync(HttpResponseMessage response, string partial, StrongBox<(long Done, long Total)> received)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var body = await response.Content.ReadAsStreamAsync();
        await using var file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
        var buffer = new byte[1 << 20];
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            await file.WriteAsync(buffer.AsMemory(0, read));
            received.Value = (received.Value.Done + read, received.Value.Total);
        }

        await file.FlushAsync();
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    [GeneratedRegex(@"^([0-9a-f]{64})\.(qcow2|iso)$")]
    private static partial Regex LibraryName();
}
