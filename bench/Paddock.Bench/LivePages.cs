using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.Bench;

/// <summary>What the open pages saw of changes: each page's delay per change (ms), the changes none saw in time, and the portal's memory per circuit.</summary>
public sealed record LiveFigures(List<double> Latencies, int Missed, double CircuitKiB);

/// <summary>
/// Live-update latency to many open pages (issue #24): N Chromium pages show one person's My VMs
/// on the first portal process, each a Blazor circuit of its own; their VM's lease is changed
/// through the second portal process (so the change crosses processes, as a change made anywhere
/// does), and each page notes, with a MutationObserver, when its lease cell changed. The delay is
/// from just before the API call to that moment, on this machine's one clock. The pages stay open
/// through the whole scale run; the portal's resident memory before and after they opened, over
/// N, is the memory a circuit costs.
/// </summary>
public sealed class LivePages : IAsyncDisposable
{
    public const string Watcher = "watcher";

    private const string VmName = "live-vm";

    private static readonly TimeSpan SeenWithin = TimeSpan.FromSeconds(30);

    // Every change of the lease cell's text, with Date.now(): the bench reads the first one after its change.
    private static readonly string Observer = $$"""
        (() => {
          window.paddockLease = [];
          new MutationObserver(() => {
            const cell = document.querySelector('[aria-label="Lease of {{VmName}}"]');
            const text = cell ? cell.textContent : null;
            if (text !== window.paddockLeaseText) {
              window.paddockLeaseText = text;
              window.paddockLease.push([Date.now(), text]);
            }
          }).observe(document, { subtree: true, childList: true, characterData: true });
        })();
        """;

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly List<IPage> _pages = [];
    private readonly PortalApi _changer;
    private readonly Guid _vm;
    private int _leaseMinutes = 600;

    private LivePages(IPlaywright playwright, IBrowser browser, PortalApi changer, Guid vm) =>
        (_playwright, _browser, _changer, _vm) = (playwright, browser, changer, vm);

    public double CircuitKiB { get; private set; }

    public int Count => _pages.Count;

    /// <summary>The watcher's VM (made through the second portal), then <paramref name="count"/> pages of My VMs on the first, all live.</summary>
    public static async Task<LivePages> OpenAsync(Instance instance, int count, CancellationToken ct)
    {
        await instance.AddMembersAsync([Watcher], ct);
        var changer = await PortalApi.SignInAsync(instance.SecondPortalUrl, Watcher, instance.Password, instance.CertificateSha256, ct);
        // Stopped: a running VM's thumbnail would ask its hollow host for a screen on every page.
        using var made = await changer.Http.PostAsJsonAsync("/api/vms", new { name = VmName, vCpus = 1, memoryMiB = 256, start = false, nics = new[] { new { isolated = true } } }, ct);
        made.EnsureSuccessStatusCode();
        var vm = (await made.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"],
        });
        var live = new LivePages(playwright, browser, changer, vm);
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = instance.PortalUrl, IgnoreHTTPSErrors = true });
        await context.AddInitScriptAsync(Observer);
        var signIn = await context.NewPageAsync();
        await signIn.GotoAsync("/account/login");
        await signIn.GetByLabel("User name").FillAsync(Watcher);
        await signIn.GetByLabel("Password").FillAsync(instance.Password);
        await signIn.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await signIn.WaitForURLAsync($"{instance.PortalUrl}/");
        await signIn.CloseAsync();

        var before = ResidentBytes(instance.PortalPids[0]);
        for (var i = 0; i < count; i += 5)
        {
            var opened = await Task.WhenAll(Enumerable.Range(i, Math.Min(5, count - i)).Select(async _ =>
            {
                var page = await context.NewPageAsync();
                await page.GotoAsync("/", new() { Timeout = 300_000 });
                await page.Locator("[data-circuit=on]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 300_000 });
                return page;
            }));
            live._pages.AddRange(opened);
            if (live._pages.Count % 50 == 0)
            {
                Console.WriteLine($"  {live._pages.Count} pages open");
            }
        }

        live.CircuitKiB = (ResidentBytes(instance.PortalPids[0]) - before) / 1024.0 / count;
        return live;
    }

    /// <summary>Changes the lease <paramref name="changes"/> times, one after another; each page's delay to show each change.</summary>
    public async Task<LiveFigures> MeasureAsync(int changes, CancellationToken ct)
    {
        var latencies = new List<double>();
        var missed = 0;
        for (var change = 0; change < changes; change++)
        {
            var asked = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await _changer.PutAsync($"/api/vms/{_vm}/lease", new { leaseMinutes = ++_leaseMinutes }, ct);
            var waiting = Stopwatch.StartNew();
            foreach (var page in _pages)
            {
                var seen = await SeenAfterAsync(page, asked, waiting, ct);
                if (seen is { } at)
                {
                    latencies.Add(at - asked);
                }
                else
                {
                    missed++;
                }
            }
        }

        return new LiveFigures([.. latencies.Order()], missed, CircuitKiB);
    }

    /// <summary>When the page first showed a lease text after <paramref name="asked"/> (Unix ms); null when not within <see cref="SeenWithin"/> of asking.</summary>
    private static async Task<long?> SeenAfterAsync(IPage page, long asked, Stopwatch waiting, CancellationToken ct)
    {
        while (true)
        {
            var seen = await page.EvaluateAsync<long?>($"(window.paddockLease.find(c => c[0] >= {asked}) || [null])[0]");
            if (seen is not null || waiting.Elapsed > SeenWithin)
            {
                return seen;
            }

            await Task.Delay(50, ct);
        }
    }

    /// <summary>A process's resident memory (bytes), from /proc.</summary>
    public static long ResidentBytes(int pid) =>
        long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        _changer.Dispose();
    }
}
