using System.Collections.Concurrent;
using System.Net.WebSockets;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// Thumbnails of running VMs' screens, taken by their hosts' agents (QMP screendump into a file the
/// agent owns, scaled to a small PNG) only when a browser asks, which it does only while the picture
/// is on screen (thumbnails.js), and kept a few seconds: however many people look, a VM's host
/// takes at most one picture every <see cref="FreshFor"/> for this process.
/// </summary>
public sealed class ThumbnailCache(ConsoleRelay relay, TimeProvider clock)
{
    public static readonly TimeSpan FreshFor = TimeSpan.FromSeconds(4);

    /// <summary>The largest thumbnail taken from an agent (one is some kilobytes).</summary>
    public const int MaxBytes = 512 * 1024;

    /// <summary>VMs whose last thumbnail is older than this are forgotten when the cache grows.</summary>
    private static readonly TimeSpan Forgotten = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<Guid, (DateTimeOffset At, Lazy<Task<byte[]?>> Png)> _taken = new();

    /// <summary>The VM's screen as a PNG, at most <see cref="FreshFor"/> old; null when its host could not take it.</summary>
    public Task<byte[]?> GetAsync(Vm vm)
    {
        var now = clock.GetUtcNow();
        if (_taken.Count > 1000)
        {
            foreach (var (id, old) in _taken.Where(e => now - e.Value.At > Forgotten).ToList())
            {
                _taken.TryRemove(id, out _);
            }
        }

        var entry = _taken.AddOrUpdate(vm.Id, _ => New(vm, now), (_, old) => now - old.At < FreshFor ? old : New(vm, now));
        return entry.Png.Value;
    }

    private (DateTimeOffset, Lazy<Task<byte[]?>>) New(Vm vm, DateTimeOffset now) => (now, new Lazy<Task<byte[]?>>(() => TakeAsync(vm)));

    private async Task<byte[]?> TakeAsync(Vm vm)
    {
        var (meeting, socket, _, _, _) = await relay.DialAsync(vm, ConsoleKind.Thumbnail, CancellationToken.None);
        using (meeting)
        {
            if (socket is null)
            {
                return null;
            }

            using var png = new MemoryStream();
            var buffer = new byte[64 * 1024];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                while (png.Length <= MaxBytes)
                {
                    var received = await socket.ReceiveAsync(buffer, timeout.Token);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        return png.Length > 0 ? png.ToArray() : null;
                    }

                    png.Write(buffer, 0, received.Count);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // The agent went away mid-way: no picture this time.
            }

            return null;
        }
    }
}

/// <summary>GET /api/vms/{id}/thumbnail: the screen of a VM the caller may see, as a small PNG.</summary>
public static class ThumbnailEndpoints
{
    public static void MapThumbnailEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/vms/{vmId:guid}/thumbnail", async (Guid vmId, HttpContext http, IDocumentStore store, ThumbnailCache thumbnails) =>
        {
            Vm? vm;
            await using (var session = store.QuerySession())
            {
                vm = await VmService.FindAsync(session, http.User, vmId, http.RequestAborted);
            }

            if (vm is null)
            {
                return VmEndpoints.NotFound();
            }

            if (vm.Status is not (VmStatus.Running or VmStatus.Paused))
            {
                return Results.Problem(statusCode: 409, title: $"'{vm.Name}' is not running: it has no screen to show.");
            }

            if (await thumbnails.GetAsync(vm) is not { } png)
            {
                return Results.Problem(statusCode: 503, title: "The VM's host could not take a picture of its screen now; try again.");
            }

            http.Response.Headers.CacheControl = "private, max-age=4";
            http.Response.Headers.XContentTypeOptions = "nosniff";
            return Results.File(png, "image/png");
        }).RequireAuthorization().WithTags("Consoles")
            .WithSummary("A small picture of the VM's screen now (at most 4 s old), as a PNG: 409 when the VM is not running.")
            .Produces(200, contentType: "image/png");
}
