using System.Net;
using System.Net.Sockets;
using Microsoft.Playwright;

namespace Paddock.Bench;

public sealed record ConsoleTimings(Series Portal, Series Bare);

/// <summary>
/// Timings of the loads that showed a frame (connect to first frame, and its three phases: connect to
/// the socket open, open to the server's first bytes, those to the first frame), and what was seen
/// on the loads that did not.
/// </summary>
public sealed record Series(List<double> Samples, List<double> ToOpen, List<double> ToGreeting, List<double> ToFrame, List<string> Stuck)
{
    public Series()
        : this([], [], [], [], [])
    {
    }
}

/// <summary>
/// Console connect -> first non-black frame, in Chromium: noVNC through the portal's console page
/// (ticket, relay, agent, VNC unix socket) and noVNC straight to QEMU's own websocket listener.
/// Both pages stay open side by side and take turns (portal, bare, bare, portal, ...), so that what
/// else the machine does weighs on both alike; the ratio is taken per pair.
/// </summary>
public static class ConsoleFirstFrame
{
    private const string Banner = "paddock-template ready";
    // The template boots to its banner in about 8 s under TCG on an idle machine.
    private static readonly TimeSpan BootWithin = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan FrameWithin = TimeSpan.FromSeconds(15);

    // Installed before any script of every page load, so it is watching before connect is called.
    // Each animation frame: once console.js (or the bare page) has set connectStartedAt and noVNC's
    // canvas has a size, read all its pixels; the first frame with a pixel whose RGB is not 0
    // records performance.now() - connectStartedAt. The console's WebSocket (not Blazor's) also
    // records when it opened and when its first message (the VNC server's greeting) came.
    private const string Probe = """
        (() => {
          const Native = window.WebSocket;
          const Watched = function (url, protocols) {
            const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
            if (!String(url).includes('/_blazor')) {
              const marks = window.paddockSocket = {};
              socket.addEventListener('open', () => { marks.open ??= performance.now(); });
              socket.addEventListener('message', () => { marks.message ??= performance.now(); });
            }
            return socket;
          };
          Watched.prototype = Native.prototype;
          Object.assign(Watched, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
          window.WebSocket = Watched;
          const probe = () => {
            const started = window.paddockConsole?.connectStartedAt;
            const canvas = document.querySelector('[aria-label="VM screen"] canvas');
            if (started !== undefined && canvas && canvas.width > 0 && canvas.height > 0) {
              const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
              const pixels = new Uint32Array(rgba.buffer); // little-endian: alpha is the top byte
              for (let i = 0; i < pixels.length; i++) {
                if ((pixels[i] & 0x00ffffff) !== 0) {
                  window.paddockFirstFrame = performance.now() - started;
                  return;
                }
              }
            }
            requestAnimationFrame(probe);
          };
          requestAnimationFrame(probe);
        })();
        """;

    public static async Task<ConsoleTimings> RunAsync(Instance instance, PortalApi api, QemuCommand command, int runs, int warmups, CancellationToken ct)
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });

        var (portal, bare) = (new Series(), new Series());
        var (id, stalls) = await BootedVmAsync(instance, api, ct);
        portal.Stuck.AddRange(stalls);
        try
        {
            await using var portalContext = await NewContextAsync(browser, instance.PortalUrl);
            var portalPage = await SignedInPageAsync(portalContext, instance);
            await portalPage.GotoAsync($"/vms/{id}/console");
            using var site = new StaticSite(StaticSite.FindNoVnc(instance.PortalDll));
            await using var qemu = await BareGuestAsync(command, bare.Stuck, ct);
            await using var bareContext = await NewContextAsync(browser, site.Url);
            var barePage = await bareContext.NewPageAsync();
            await barePage.GotoAsync($"{site.Url}?ws={Uri.EscapeDataString($"ws://127.0.0.1:{qemu.Websocket}/")}");

            // Each page is loading already: its first frame is the first warm-up. ABBA order: neither side always goes first.
            for (var run = -warmups; run < runs; run++)
            {
                var reload = run > -warmups;
                var sides = (run + warmups) % 2 == 0 ? new[] { (portalPage, portal), (barePage, bare) } : [(barePage, bare), (portalPage, portal)];
                foreach (var (page, series) in sides)
                {
                    await MeasureOnceAsync(page, series, reload, counted: run >= 0);
                }
            }
        }
        finally
        {
            await api.PowerOffAndDeleteAsync(id, ct);
        }

        return new ConsoleTimings(portal, bare);
    }

    private static async Task<IPage> SignedInPageAsync(IBrowserContext context, Instance instance)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync("/account/login");
        await page.GetByLabel("User name").FillAsync(Instance.User);
        await page.GetByLabel("Password").FillAsync(instance.Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync($"{instance.PortalUrl}/");
        return page;
    }

    /// <summary>
    /// A portal VM whose guest has printed its banner. A guest that stalls during boot (seen now
    /// and then here: nothing after SYSLINUX's line) is noted, deleted and replaced, up to twice.
    /// </summary>
    private static async Task<(Guid Id, List<string> Stalls)> BootedVmAsync(Instance instance, PortalApi api, CancellationToken ct)
    {
        var stalls = new List<string>();
        for (var attempt = 1; ; attempt++)
        {
            var id = await api.CreateVmAsync($"bench-console-{attempt}", ct, isolated: true);
            var runDirectory = Path.Combine(instance.VmsDir, id.ToString("D"));
            try
            {
                await api.WaitForStatusAsync(id, "Running", BootWithin, ct);
                await Serial.WaitForAsync(Path.Combine(runDirectory, "serial.log"), Banner, BootWithin, ct);
                return (id, stalls);
            }
            catch (TimeoutException e) when (attempt < 3)
            {
                stalls.Add($"guest of VM {id} did not boot: {e.Message} {await CpuUseAsync(runDirectory, ct)}");
                await api.PowerOffAndDeleteAsync(id, ct);
            }
        }
    }

    /// <summary>Whether a stalled guest spins or sleeps: its QEMU's CPU time over one second.</summary>
    private static async Task<string> CpuUseAsync(string runDirectory, CancellationToken ct)
    {
        try
        {
            var pid = (await File.ReadAllTextAsync(Path.Combine(runDirectory, "qemu", "qemu.pid"), ct)).Trim();
            // Fields 14 and 15 of /proc/PID/stat (after the ")" of the name): utime and stime in clock ticks.
            static long Ticks(string pid) => File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].Split(' ')[11..13].Sum(long.Parse);
            var before = Ticks(pid);
            await Task.Delay(1000, ct);
            return $"QEMU pid {pid} used {Ticks(pid) - before} of 100 CPU ticks in the last second.";
        }
        catch (IOException e)
        {
            return $"(QEMU's CPU use unknown: {e.Message})";
        }
    }

    /// <summary>A bare QEMU of the agent's argv with its own websocket VNC listener, once its guest has printed its banner (up to three tries).</summary>
    private static async Task<BareConsole> BareGuestAsync(QemuCommand command, List<string> stalls, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (display, websocket) = (FreeVncDisplay(), Instance.FreePort());
            // Loopback only; QEMU's websocket listener serves path "/" with subprotocol "binary" or none.
            var qemu = await BareQemu.StartAsync(command, $"127.0.0.1:{display},websocket={websocket}", ct);
            try
            {
                await qemu.WaitForQmpRunningAsync(BootWithin, ct);
                await qemu.WaitForSerialAsync(Banner, BootWithin, ct);
                return new BareConsole(qemu, websocket);
            }
            catch (TimeoutException e) when (attempt < 3)
            {
                stalls.Add($"bare guest did not boot: {e.Message}");
                await qemu.DisposeAsync();
            }
            catch
            {
                await qemu.DisposeAsync();
                throw;
            }
        }
    }

    private sealed record BareConsole(BareQemu Qemu, int Websocket) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Qemu.DisposeAsync();
    }

    /// <summary>
    /// One connection: the page reloaded (a new noVNC connection) unless it is loading already, until
    /// its first frame. A load that shows no frame within <see cref="FrameWithin"/> is reloaded and
    /// noted, not counted: the figure is the time of a console that works.
    /// </summary>
    private static async Task MeasureOnceAsync(IPage page, Series series, bool reload, bool counted)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (reload || attempt > 1)
            {
                await page.ReloadAsync();
            }

            try
            {
                await page.WaitForFunctionAsync("() => window.paddockFirstFrame !== undefined", null, new() { Timeout = (float)FrameWithin.TotalMilliseconds });
                break;
            }
            catch (TimeoutException e)
            {
                var state = await page.EvaluateAsync<string>("""
                    () => JSON.stringify({ circuit: document.querySelector('[data-circuit]')?.dataset.circuit ?? null,
                      connectStartedAt: window.paddockConsole?.connectStartedAt ?? null, socket: window.paddockSocket ?? null,
                      canvases: [...document.querySelectorAll('[aria-label="VM screen"] canvas')].map(c => [c.width, c.height]),
                      consoleState: document.querySelector('[aria-label="Console state"]')?.textContent ?? null })
                    """);
                series.Stuck.Add($"no frame within {FrameWithin.TotalSeconds:0} s of a load; page {state}");
                if (attempt == 3)
                {
                    throw new TimeoutException($"No non-black frame on {page.Url} in 3 loads: {string.Join("; ", series.Stuck)}", e);
                }
            }
        }

        // [frame, open, greeting] after connect, in ms.
        var marks = await page.EvaluateAsync<double[]>("""
            () => [window.paddockFirstFrame, window.paddockSocket.open - window.paddockConsole.connectStartedAt,
                   window.paddockSocket.message - window.paddockConsole.connectStartedAt]
            """);
        if (counted)
        {
            series.Samples.Add(marks[0]);
            series.ToOpen.Add(marks[1]);
            series.ToGreeting.Add(marks[2] - marks[1]);
            series.ToFrame.Add(marks[0] - marks[2]);
        }
    }

    private static async Task<IBrowserContext> NewContextAsync(IBrowser browser, string baseUrl)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = baseUrl, IgnoreHTTPSErrors = true, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        await context.AddInitScriptAsync(Probe);
        return context;
    }

    /// <summary>A VNC display number whose TCP port (5900 + n) is free on loopback.</summary>
    private static int FreeVncDisplay()
    {
        for (var display = 50; display < 100; display++)
        {
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, 5900 + display);
                listener.Start();
                return display;
            }
            catch (SocketException)
            {
                // Taken: try the next one.
            }
        }

        throw new InvalidOperationException("No free VNC display between :50 and :99.");
    }
}
