using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace Paddock.E2e;

/// <summary>
/// The Prometheus scrape: an admin's (read-only) token reads it, a member and nobody cannot; each
/// of Paddock's own metrics is there and moves when its event happens (an operation, a placement,
/// a refused create, a console session, a VM's state, a host's allocation, a VM's use), beside
/// ASP.NET Core's and Npgsql's.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class MetricsTests(PaddockFixture paddock)
{
    [Fact]
    public async Task The_scrape_needs_an_admin_and_each_paddock_metric_moves_when_its_event_happens()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var made = await admin.APIRequest.PostAsync("/api/tokens", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "prometheus", days = 1, scope = "ReadOnly" } });
        Assert.True(made.Status == 201, await made.TextAsync());
        using var scraper = paddock.NewHttpClient();
        scraper.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await made.JsonAsync())!.Value.GetProperty("token").GetString());
        var member = await paddock.SignInAsync(PaddockFixture.Metro);
        Assert.Equal(403, (await member.APIRequest.GetAsync("/api/metrics")).Status);
        using (var anonymous = paddock.NewHttpClient())
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/metrics")).StatusCode);
        }

        var before = await ScrapeAsync(scraper);
        var text = await scraper.GetStringAsync("/api/metrics");
        await File.WriteAllTextAsync(Path.Combine(paddock.Artifacts, "metrics.txt"), text);
        Assert.DoesNotContain(new Npgsql.NpgsqlConnectionStringBuilder(paddock.Connection).Password!, text, StringComparison.Ordinal);
        Assert.True(before.Sum("paddock_agents_connected") >= 1);
        Assert.True(before.Has("paddock_commands_queued") && before.Has("paddock_commands_oldest_age_seconds"));
        Assert.True(before.Has("paddock_host_capacity"));
        Assert.True(before.Has("http_server_request_duration_seconds_count"), "ASP.NET Core's metrics");

        // A create: an operation ends, placement decides, a VM runs, its host books it, its use is reported.
        var vmId = await VmApi.CreateRunningAsync(member, "metro-vm");
        var after = await EventuallyAsync(scraper, s =>
            s.Sum("paddock_operations_total", ("verb", "Create"), ("outcome", "succeeded")) == before.Sum("paddock_operations_total", ("verb", "Create"), ("outcome", "succeeded")) + 1
            && s.Sum("paddock_vms", ("state", "Running")) == before.Sum("paddock_vms", ("state", "Running")) + 1
            && s.Has("paddock_vm_memory_rss_bytes", ("vm_name", "metro-vm")) && s.Has("paddock_vm_cpu_time_seconds_total", ("vm_name", "metro-vm"))
            // Its disk's counters: the boot reads the disk (the firmware its boot sector), but the first report may come before.
            && s.Sum("paddock_vm_disk_io_bytes_total", ("vm_name", "metro-vm"), ("direction", "read")) > 0
            && s.Sum("paddock_vm_disk_operations_total", ("vm_name", "metro-vm"), ("direction", "read")) > 0,
            "the create counted, the VM running and its use, its boot's disk reads among it, reported");
        Assert.True(after.Sum("paddock_operation_duration_seconds_count", ("verb", "Create")) > before.Sum("paddock_operation_duration_seconds_count", ("verb", "Create")));
        Assert.True(after.Sum("paddock_placement_duration_seconds_count") > before.Sum("paddock_placement_duration_seconds_count"));
        Assert.True(after.Sum("paddock_host_allocated", ("resource", "memory_mib")) >= before.Sum("paddock_host_allocated", ("resource", "memory_mib")) + 192);
        Assert.True(after.Has("paddock_host_memory_used_bytes") && after.Has("paddock_host_cpu_utilization"));
        Assert.True(after.Samples.Any(s => s.Name.StartsWith("db_client_", StringComparison.Ordinal)), "Npgsql's metrics");
        // Its disk's writes are counted (none may have happened) and its balloon.
        Assert.True(after.Has("paddock_vm_disk_io_bytes_total", ("vm_name", "metro-vm"), ("direction", "write")));
        Assert.True(after.Sum("paddock_vm_memory_balloon_bytes", ("vm_name", "metro-vm")) > 0, "the balloon's size");
        // Its NIC is on its owner's default network: its tap's counters (they move in TenantNetworkTests).
        Assert.True(after.Has("paddock_vm_network_io_bytes_total", ("vm_name", "metro-vm"), ("direction", "receive")));
        Assert.True(after.Has("paddock_vm_network_packets_total", ("vm_name", "metro-vm"), ("direction", "transmit")));
        await ButtonPressTracedToQmpAsync(member, vmId);

        // A refused create and an open console.
        var refused = await member.APIRequest.PostAsync("/api/vms", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "metro-huge", vCpus = 1, memoryMiB = 1_048_576 } });
        Assert.True(refused.Status is 409 or 422, await refused.TextAsync());
        using var console = await paddock.OpenConsoleAsync(member, await ConsoleAsync(member, vmId), paddock.PortalUrl);
        Assert.NotNull(console);
        await EventuallyAsync(scraper, s =>
            s.Sum("paddock_admission_refusals_total") == after.Sum("paddock_admission_refusals_total") + 1 && s.Sum("paddock_console_sessions") >= 1,
            "the refusal counted and the console session shown");
        await console!.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await VmApi.DeleteAsync(member, vmId);
        await member.Context.CloseAsync();
        await admin.Context.CloseAsync();
    }

    /// <summary>
    /// Pause pressed on the VM's page is one trace from the browser's event to QEMU: Blazor's event
    /// span, the portal's operation, its send to the agent, the agent's run of it, and QMP's stop,
    /// each the child of the one before, from two processes (OTLP to the fixture's collector).
    /// </summary>
    private async Task ButtonPressTracedToQmpAsync(Microsoft.Playwright.IPage member, Guid vmId)
    {
        await member.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(member);
        await member.GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = "Pause", Exact = true }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(member, "Paused");
        ReceivedSpan? qmp = null;
        try
        {
            await Eventually.Async(() => (qmp = paddock.Traces.Spans.LastOrDefault(s => s.Name == "qmp stop" && Chain(s).Count >= 5)) is not null,
                TimeSpan.FromSeconds(30), "the pause's trace from the button to QMP");
        }
        catch (TimeoutException e)
        {
            // What came instead: the chains of the pauses the collector has, and how many spans it holds.
            var chains = paddock.Traces.Spans.Where(s => s.Name is "qmp stop" or "VM Pause").Select(s => string.Join(" <- ", Chain(s).Select(c => $"{c.Service} {c.Name}")));
            throw new TimeoutException($"{e.Message} The collector holds {paddock.Traces.Spans.Count} spans; pauses: {string.Join(" | ", chains)}", e);
        }

        var chain = Chain(qmp!);
        Assert.Equal(
            ["paddock-agent qmp stop", "paddock-agent agent Pause", "paddock-portal send Pause", "paddock-portal VM Pause"],
            chain.Take(4).Select(s => $"{s.Service} {s.Name}"));
        Assert.Equal("Microsoft.AspNetCore.Components", chain[4].Scope);
        Assert.Contains("onclick", chain[4].Name, StringComparison.Ordinal);
        Assert.Single(chain.Select(s => s.TraceId).Distinct());
        await member.GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = "Resume", Exact = true }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(member, "Running");
    }

    /// <summary>The span and its ancestors, as far as the collector has them.</summary>
    private List<ReceivedSpan> Chain(ReceivedSpan span)
    {
        var spans = paddock.Traces.Spans.Where(s => s.TraceId == span.TraceId).ToDictionary(s => s.SpanId);
        var chain = new List<ReceivedSpan> { span };
        while (chain.Count < 20 && spans.TryGetValue(chain[^1].ParentId, out var parent))
        {
            chain.Add(parent);
        }

        return chain;
    }

    private static async Task<string> ConsoleAsync(Microsoft.Playwright.IPage page, Guid vmId) =>
        (await (await page.APIRequest.PostAsync($"/api/vms/{vmId}/console-ticket", new() { Headers = PaddockFixture.ApiHeaders })).JsonAsync())!.Value.GetProperty("path").GetString()!;

    private static async Task<Scrape> EventuallyAsync(HttpClient scraper, Func<Scrape, bool> condition, string what)
    {
        Scrape last = new([]);
        await Eventually.Async(async () => condition(last = await ScrapeAsync(scraper)), PaddockFixture.Boot, what);
        return last;
    }

    private static async Task<Scrape> ScrapeAsync(HttpClient scraper)
    {
        var answer = await scraper.GetAsync("/api/metrics");
        Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
        return Scrape.Parse(await answer.Content.ReadAsStringAsync());
    }

    /// <summary>Prometheus's text format, sample by sample: a name, its labels, its value.</summary>
    private sealed record Scrape(IReadOnlyList<(string Name, Dictionary<string, string> Labels, double Value)> Samples)
    {
        public static Scrape Parse(string text) => new([.. text.Split('\n')
            .Where(l => l.Length > 0 && l[0] != '#')
            .Select(l =>
            {
                var brace = l.IndexOf('{', StringComparison.Ordinal);
                var close = l.LastIndexOf('}');
                var name = brace < 0 ? l[..l.IndexOf(' ', StringComparison.Ordinal)] : l[..brace];
                var labels = brace < 0 ? [] : System.Text.RegularExpressions.Regex.Matches(l[(brace + 1)..close], "(\\w+)=\"((?:[^\"\\\\]|\\\\.)*)\"")
                    .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
                var rest = l[((brace < 0 ? name.Length : close + 1))..].Trim().Split(' ')[0];
                return (name, labels, double.Parse(rest, CultureInfo.InvariantCulture));
            })]);

        public bool Has(string name, params (string Key, string Value)[] labels) => Matching(name, labels).Any();

        public double Sum(string name, params (string Key, string Value)[] labels) => Matching(name, labels).Sum(s => s.Value);

        private IEnumerable<(string Name, Dictionary<string, string> Labels, double Value)> Matching(string name, (string Key, string Value)[] labels) =>
            Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));
    }
}
