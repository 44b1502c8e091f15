using System.Net;
using System.Text;

namespace Paddock.Bench;

/// <summary>
/// A page that connects noVNC straight to QEMU's websocket, and noVNC's files, over http on
/// loopback (ES modules do not load from file://).
/// </summary>
public sealed class StaticSite : IDisposable
{
    // The screen as the portal's console page has it (id, size, scaling), and the same mark
    // console.js sets just before new RFB(...).
    private const string Page = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>bare noVNC</title>
        <style>body { margin: 0 } .console-screen { width: 100%; height: calc(100vh - 220px); min-height: 420px; background: #000; overflow: hidden; }</style>
        </head><body>
        <div id="screen" class="console-screen" role="application" aria-label="VM screen" tabindex="0"></div>
        <script type="module">
        import RFB from '/novnc/core/rfb.js';
        const url = new URLSearchParams(location.search).get('ws');
        window.paddockConsole = { connectStartedAt: performance.now(), firstFrameAt: null };
        const rfb = new RFB(document.getElementById('screen'), url, { wsProtocols: ['binary'] });
        rfb.scaleViewport = true;
        rfb.focusOnClick = true;
        </script>
        </body></html>
        """;

    private readonly HttpListener _listener = new();
    private readonly string _noVncDir;

    public StaticSite(string noVncDir)
    {
        _noVncDir = Path.GetFullPath(noVncDir);
        Url = $"http://127.0.0.1:{Instance.FreePort()}/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public string Url { get; }

    /// <summary>noVNC as the portal serves it: the build copies core/ and vendor/ into wwwroot/lib/novnc.</summary>
    public static string FindNoVnc(string portalDll)
    {
        for (var dir = Path.GetDirectoryName(Path.GetFullPath(portalDll)); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            var candidate = Path.Combine(dir, "wwwroot", "lib", "novnc");
            if (File.Exists(Path.Combine(candidate, "core", "rfb.js")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"No wwwroot/lib/novnc/core/rfb.js above {portalDll}: build the portal first.");
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            try
            {
                await AnswerAsync(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                // The browser went away mid-answer (a reload): nothing to do.
            }
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath;
        using var response = context.Response;
        if (path == "/")
        {
            await WriteAsync(response, Encoding.UTF8.GetBytes(Page), "text/html; charset=utf-8");
            return;
        }

        var file = path.StartsWith("/novnc/", StringComparison.Ordinal) ? Path.GetFullPath(Path.Combine(_noVncDir, path["/novnc/".Length..])) : null;
        // Nothing outside the noVNC folder, whatever the path says.
        if (file is null || !file.StartsWith(_noVncDir + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
        {
            response.StatusCode = 404;
            return;
        }

        await WriteAsync(response, await File.ReadAllBytesAsync(file), file.EndsWith(".js", StringComparison.Ordinal) ? "text/javascript" : "application/octet-stream");
    }

    private static async Task WriteAsync(HttpListenerResponse response, byte[] body, string contentType)
    {
        response.ContentType = contentType;
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
    }

    public void Dispose() => _listener.Close();
}
