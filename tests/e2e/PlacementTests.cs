using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// Placement across three agents of different declared sizes on this machine, with the run's own
/// host in maintenance: spread, then pack, maintenance, an unreachable host and its VMs, the
/// refusal sentences, and the concurrency proof through two portal processes.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class PlacementTests(PaddockFixture paddock)
{
    private static readonly (string Process, string Name, int MemoryMiB, int Cpus)[] Agents =
    [
        ("agent-small", "pl-small", 1024, 2),
        ("agent-medium", "pl-medium", 2048, 2),
        ("agent-large", "pl-large", 4096, 2),
    ];

    [Fact]
    public async Task Placement_spreads_then_packs_skips_maintenance_and_unreachable_hosts_and_never_double_books_a_host()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var pia = await paddock.SignInAsync(PaddockFixture.Pia);
        Assert.Equal(200,
            (await admin.APIRequest.PutAsync($"/api/quotas/users/{PaddockFixture.Pia}",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { limits = new { } } })).Status);
        // One command line per token, side by side: each starts a .NET process.
        var tokens = await Task.WhenAll(Agents.Select(agent => paddock.JoinTokenAsync(agent.Name)));

        for (var i = 0; i < Agents.Length; i++)
        {
            paddock.StartExtraAgent(Agents[i].Process, Agents[i].Name, Path.Combine(paddock.DataDir, Agents[i].Process), tokens[i],
                Agents[i].MemoryMiB, Agents[i].Cpus);
        }

        Dictionary<string, Guid> hosts = [];
        await Eventually.Async(async () =>
        {
            hosts = (await CapacityAsync(admin)).Where(h => h.GetProperty("reachable").GetBoolean())
                .ToDictionary(h => h.GetProperty("name").GetString()!, h => h.GetProperty("id").GetGuid());
            return Agents.All(a => hosts.ContainsKey(a.Name)) && hosts.ContainsKey("e2e-host");
        }, TimeSpan.FromSeconds(60), "the three agents registered");

        var created = new List<Guid>();
        try
        {
            // Only the three test hosts take VMs; VMs need not run, they hold their allocation stopped.
            await PaddockFixture.MaintenanceAsync(admin, hosts["e2e-host"], true);
            var iso = await paddock.UploadIsoAsync(pia, "placement-iso");

            // Capacity after 512 MiB reserved: small 512, medium 1536, large 3584 MiB.
            // Spread: the most free memory first.
            foreach (var expected in new[] { "pl-large", "pl-large", "pl-large", "pl-medium" })
            {
                var id = await CreateAsync(pia, $"spread-{created.Count}", 768, iso);
                created.Add(id);
                Assert.Equal(expected, await paddock.HostNameOfAsync(id));
            }

            // Pack: the fullest host that fits. Large has 1280 MiB free, medium 768, small 512.
            Assert.Equal(204,
                (await admin.APIRequest.PutAsync("/api/policy/overcommit",
                    new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { weigher = "Pack" } })).Status);
            var packed = await CreateAsync(pia, "pack-0", 768, iso);
            created.Add(packed);
            Assert.Equal("pl-medium", await paddock.HostNameOfAsync(packed));

            // Admins see why each other host was passed over, in the VM's history.
            var history = await paddock.PassedOverAsync(packed);
            Assert.Contains("pl-small: memory: 768 MiB asked, 512 MiB free of 512 MiB", history);
            Assert.Contains("pl-large: fits, but a fuller host was chosen (pack)", history);
            Assert.Contains("e2e-host: in maintenance", history);
            await admin.GotoAsync($"/vms/{packed}");
            await PaddockFixture.InteractiveAsync(admin);
            await Assertions.Expect(admin.GetByLabel("Placement")).ToContainTextAsync("on pl-medium");
            await Assertions.Expect(admin.GetByLabel("Placement")).ToContainTextAsync("pl-large: fits, but a fuller host was chosen (pack)");

            // Maintenance takes a host out of placement: medium is full now, large is next in pack.
            await PaddockFixture.MaintenanceAsync(admin, hosts["pl-large"], true);
            var refused = await pia.APIRequest.PostAsync("/api/vms",
                new() { Headers = PaddockFixture.ApiHeaders,
                    DataObject = new { name = "too-big", vCpus = 1, memoryMiB = 1024, imageId = iso, diskMiB = 64, start = false } });
            Assert.Equal(409, refused.Status);
            Assert.Equal("No host can take 1 GiB of memory right now.", (await refused.JsonAsync())!.Value.GetProperty("title").GetString());
            // The admin's answer names every host's reason.
            var detail = await admin.APIRequest.PostAsync("/api/vms",
                new() { Headers = PaddockFixture.ApiHeaders,
                    DataObject = new { name = "too-big", vCpus = 1, memoryMiB = 1024, imageId = iso, diskMiB = 64, start = false } });
            Assert.Equal(409, detail.Status);
            Assert.Contains("pl-large: in maintenance", (await detail.JsonAsync())!.Value.GetProperty("detail").GetString());
            await PaddockFixture.MaintenanceAsync(admin, hosts["pl-large"], false);

            // A host that stops reporting turns Unreachable after the grace period, and its VMs Unknown, never Stopped.
            var onMedium = created.Where(id => paddock.HostNameOfAsync(id).Result == "pl-medium").ToList();
            await paddock.StopAgentAsync("agent-medium");
            await Eventually.Async(async () => (await Task.WhenAll(onMedium.Select(id => PaddockFixture.VmStatusAsync(pia, id)))).All(s => s == "Unknown"),
                PaddockFixture.HostGrace * 4, "the medium host's VMs to turn Unknown");
            await admin.GotoAsync("/admin/capacity");
            await PaddockFixture.InteractiveAsync(admin);
            await Assertions.Expect(admin.GetByRole(AriaRole.Row, new() { Name = "Capacity of pl-medium" })).ToContainTextAsync("Unreachable");
            await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "capacity.png"), FullPage = true });
            await admin.GotoAsync("/admin/hosts");
            await PaddockFixture.InteractiveAsync(admin);
            await Assertions.Expect(admin.GetByLabel("State of pl-medium")).ToHaveTextAsync("Unreachable");
            await admin.GotoAsync("/admin/capacity");
            await PaddockFixture.InteractiveAsync(admin);
            paddock.StartExtraAgent("agent-medium", "pl-medium", Path.Combine(paddock.DataDir, "agent-medium"), tokens[1], 2048, 2);
            await Eventually.Async(async () => (await Task.WhenAll(onMedium.Select(id => PaddockFixture.IdleStatusAsync(pia, id)))).All(s => s == "Stopped"),
                TimeSpan.FromSeconds(60), "the medium host's VMs back to Stopped");
            await Assertions.Expect(admin.GetByRole(AriaRole.Row, new() { Name = "Capacity of pl-medium" })).ToContainTextAsync("Connected");

            // The fleet's totals are summed apart from the hosts shown: the same capacity as the API's hosts add up to.
            var capacities = (await (await admin.APIRequest.GetAsync("/api/capacity")).JsonAsync())!.Value.EnumerateArray();
            var vcpus = capacities.Sum(h => h.GetProperty("capacity").GetProperty("vCpus").GetInt64());
            await Assertions.Expect(admin.GetByLabel("Fleet vCPUs")).ToContainTextAsync($" of {vcpus} vCPUs");
            // A page of hosts by name, found by a part of it.
            await admin.GetByLabel("Find a host").FillAsync("pl-me");
            await Assertions.Expect(admin.GetByLabel("Hosts shown")).ToHaveTextAsync("1 host");
            await Assertions.Expect(admin.GetByRole(AriaRole.Row, new() { Name = "Capacity of pl-medium" })).ToHaveCountAsync(1);
            await Assertions.Expect(admin.GetByRole(AriaRole.Row, new() { Name = "Capacity of pl-small" })).ToHaveCountAsync(0);

            // Concurrency: only small (512 MiB) takes VMs; 16 creates of 128 MiB at once through two portals: exactly 4.
            await PaddockFixture.MaintenanceAsync(admin, hosts["pl-large"], true);
            await PaddockFixture.MaintenanceAsync(admin, hosts["pl-medium"], true);
            var second = await paddock.StartSecondPortalAsync();
            using var one = await paddock.ApiClientAsAsync(pia, paddock.PortalUrl);
            using var two = await paddock.ApiClientAsAsync(pia, second);
            using var go = new SemaphoreSlim(0);
            var attempts = Enumerable.Range(0, 16).Select(async i =>
            {
                await go.WaitAsync();
                using var response = await (i % 2 == 0 ? one : two)
                    .PostAsJsonAsync("/api/vms", new { name = $"race-{i:00}", vCpus = 1, memoryMiB = 128, imageId = iso, diskMiB = 64, start = false });
                return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
            }).ToList();
            go.Release(16);
            var answers = await Task.WhenAll(attempts);
            var admitted = answers.Where(a => a.Item1 == 201).Select(a => JsonDocument.Parse(a.Item2).RootElement.GetProperty("id").GetGuid()).ToList();
            created.AddRange(admitted);
            Assert.True(admitted.Count == 4, string.Join("\n", answers.Select(a => $"{a.Item1} {a.Item2}")));
            Assert.All(answers.Where(a => a.Item1 != 201), a => Assert.Contains("No host can take 128 MiB of memory right now.", a.Item2));
            foreach (var id in admitted)
            {
                Assert.Equal("pl-small", await paddock.HostNameOfAsync(id));
            }

            var small = (await CapacityAsync(admin)).Single(h => h.GetProperty("name").GetString() == "pl-small");
            Assert.Equal(512, small.GetProperty("allocated").GetProperty("memoryMiB").GetInt64());
            Assert.Equal(512, small.GetProperty("capacity").GetProperty("memoryMiB").GetInt64());
            await paddock.StopAgentAsync("portal2");
        }
        finally
        {
            await admin.APIRequest.PutAsync("/api/policy/overcommit", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { } });
            foreach (var host in hosts.Values)
            {
                await PaddockFixture.MaintenanceAsync(admin, host, false);
            }

            foreach (var id in created)
            {
                await pia.APIRequest.PostAsync($"/api/vms/{id}/delete", new() { Headers = PaddockFixture.ApiHeaders });
            }

            await Eventually.Async(async () => (await Task.WhenAll(created.Select(id => pia.APIRequest.GetAsync($"/api/vms/{id}")))).All(r => r.Status == 404),
                TimeSpan.FromSeconds(60), "the test's VMs deleted");
            foreach (var agent in Agents)
            {
                await paddock.StopAgentAsync(agent.Process);
            }

            await admin.Context.CloseAsync();
            await pia.Context.CloseAsync();
        }
    }

    private static async Task<IReadOnlyList<JsonElement>> CapacityAsync(IPage admin) =>
        [.. (await (await admin.APIRequest.GetAsync("/api/capacity")).JsonAsync())!.Value.EnumerateArray()];

    private static async Task<Guid> CreateAsync(IPage page, string name, int memoryMiB, Guid iso)
    {
        var response = await page.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, vCpus = 1, memoryMiB, imageId = iso, diskMiB = 64, start = false } });
        Assert.True(response.Status == 201, await response.TextAsync());
        return (await response.JsonAsync())!.Value.GetProperty("id").GetGuid();
    }

    /// <summary>An ISO of this test's own (the built-in one with a random tail: library files are shared by checksum).</summary>
}
