using System.Net;
using System.Net.Sockets;
using Microsoft.Playwright;

namespace Paddock.Bench;

public sealed record ConsoleTimings(Series Portal, Series Bare);

/// <summary>Timings of the loads that showed a frame, and what was seen on those that did not.</summary>
public sealed record Series(List<double> Samples, List<string> Stuck);

/// <summary>
/// Console connect -> first non-black frame, in Chromium: noVNC through the portal's console page
/// (ticket, relay, agent, VNC unix socket) and noVNC straight to QEMU's own websocket listener.
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
    // records performance.now() - connectStartedAt.
    private const string Probe = """
        (() => {
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

        var portal = await ThroughPortalAsync(instance, api, browser, runs, warmups, ct);
        var bare = await StraightToQemuAsync(instance, command, browser, runs, warmups, ct);
        return new ConsoleTimings(portal, bare);
    }

    private static async Task<Series> ThroughPortalAsync(Instance instance, PortalApi api, IBrowser browser, int runs, int warmups, CancellationToken ct)
    {
        var (id, stalls) = await BootedVmAsync(instance, api, ct);
        try
        {
            await using var context = await NewContextAsync(browser, instance.PortalUrl);
            var page = await context.NewPageAsync();
            await page.GotoAsync("/account/login");
            await page.GetByLabel("User name").FillAsync(Instance.User);
            await page.GetByLabel("Password").FillAsync(instance.Password);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await page.WaitForURLAsync($"{instance.PortalUrl}/");
            await page.GotoAsync($"/vms/{id}/console");
            var series = await MeasureAsync(page, runs, warmups);
            series.Stuck.InsertRange(0, stalls);
            return series;
        }
        finally
        {
            await api.PowerOffAndDeleteAsync(id, ct);
        }
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
            var id = await api.CreateVmAsync($"bench-console-{attempt}", ct);
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
            var pid = (await File.ReadAllTextAsync(Path.Combine(runDirectory, "qemu.pid"), ct)).Trim();
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

    private static async Task<Series> StraightToQemuAsync(Instance instance, QemuCommand command, IBrowser browser, int runs, int warmups, CancellationToken ct)
    {
        using var site = new StaticSite(StaticSite.FindNoVnc(instance.PortalDll));
        var stalls = new List<string>();
        for (var attempt = 1; ; attempt++)
        {
            var (display, websocket) = (FreeVncDisplay(), Instance.FreePort());
            // Loopback only; QEMU's websocket listener serves path "/" with subprotocol "binary" or none.
            await using var qemu = await BareQemu.StartAsync(command, $"127.0.0.1:{display},websocket={websocket}", ct);
            await qemu.WaitForQmpRunningAsync(BootWithin, ct);
            try
            {
                await qemu.WaitForSerialAsync(Banner, BootWithin, ct);
            }
            catch (TimeoutException e) when (attempt < 3)
            {
                stalls.Add($"bare guest did not boot: {e.Message}");
                continue;
            }

            await using var context = await NewContextAsync(browser, site.Url);
            var page = await context.NewPageAsync();
            await page.GotoAsync($"{site.Url}?ws={Uri.EscapeDataString($"ws://127.0.0.1:{websocket}/")}");
            var series = await MeasureAsync(page, runs, warmups);
            series.Stuck.InsertRange(0, stalls);
            return series;
        }
    }

    /// <summary>
    /// The page is already loading the first time; each further run reloads it (a new noVNC
    /// connection). A load that shows no frame within <see cref="FrameWithin"/> is reloaded and
    /// noted, not counted: the figure is the time of a console that works.
    /// </summary>
    private static async Task<Series> MeasureAsync(IPage page, int runs, int warmups)
    {
        var series = new Series([], []);
        for (var run = -warmups; run < runs; run++)
        {
            for (var attempt = 1; ; attempt++)
            {
                if (run > -warmups || attempt > 1)
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
                          connectStartedAt: window.paddockConsole?.connectStartedAt ?? null,
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

            var ms = await page.EvaluateAsync<double>("() => window.paddockFirstFrame");
            if (run >= 0)
            {
                series.Samples.Add(ms);
            }
        }

        return series;
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
