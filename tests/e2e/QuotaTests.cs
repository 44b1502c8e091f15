using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Npgsql;

namespace Paddock.E2e;

/// <summary>Quotas, requests and leases, through the browser and the API, with real VMs.</summary>
[Collection(PaddockCollection.Name)]
public sealed partial class QuotaTests(PaddockFixture paddock)
{
    private static async Task SetQuotaAsync(IPage admin, string user, object limits, int? maxLeaseMinutes = null)
    {
        var set = await admin.APIRequest.PutAsync($"/api/quotas/users/{user}",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { limits, maxLeaseMinutes } });
        Assert.True(set.Status == 200, await set.TextAsync());
    }

    [Fact]
    public async Task Over_quota_create_is_refused_with_the_numbers_then_submitted_as_a_request_and_approved_live()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await SetQuotaAsync(admin, PaddockFixture.Vera, new { vms = 1, vCpus = 4, memoryMiB = 512, diskMiB = 10240 });
        var vera = await paddock.SignInAsync(PaddockFixture.Vera);
        await Assertions.Expect(vera.GetByLabel("Quota VMs")).ToContainTextAsync("VMs: 0 of 1 VM");

        // Within quota: created at once.
        var first = await PaddockFixture.CreateVmAsync(vera, "vera-one");
        await vera.GotoAsync("/");
        await PaddockFixture.InteractiveAsync(vera);
        await Assertions.Expect(vera.GetByLabel("Quota memory")).ToContainTextAsync("memory: 256 of 512 MiB");

        // Over quota: the dialog says so before submitting, and the refusal gives the numbers next to the fields.
        await vera.GetByRole(AriaRole.Button, new() { Name = "New VM" }).ClickAsync();
        var dialog = vera.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Name").FillAsync("vera-two");
        await Assertions.Expect(dialog.GetByLabel("Placement")).ToHaveTextAsync("A host can take this VM now.");
        await dialog.GetByLabel("Memory (MiB)").FillAsync("1024");
        await Assertions.Expect(dialog.GetByRole(AriaRole.Status).Filter(new() { HasText = "This VM would not fit" })).ToBeVisibleAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        const string memory = "memory: requested 1024 MiB, in use 256 of 512 MiB";
        await Assertions.Expect(dialog.GetByLabel("Memory (MiB)")).ToHaveAttributeAsync("aria-invalid", "true");
        await Assertions.Expect(dialog.GetByText(memory).First).ToBeVisibleAsync();
        await Assertions.Expect(dialog.GetByText("VMs: requested 1 VM, in use 1 of 1 VM").First).ToBeVisibleAsync();
        await vera.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "quota-refused.png") });

        // The API refuses the same with problem details, and offers the request.
        var api = await vera.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "vera-api", vCpus = 1, memoryMiB = 1024 } });
        Assert.Equal(409, api.Status);
        var problem = (await api.JsonAsync())!.Value;
        Assert.Contains(memory, problem.GetProperty("errors").GetProperty("memory")[0].GetString());
        Assert.Equal("/api/requests", problem.GetProperty("submitAsRequest").GetProperty("href").GetString());

        // Sent as a request instead, with a justification.
        var myVms = await vera.Context.NewPageAsync();
        await myVms.GotoAsync("/");
        await PaddockFixture.InteractiveAsync(myVms);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Submit as request" }).ClickAsync();
        await dialog.GetByLabel("Justification").FillAsync("A load test needs a bigger machine.");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Submit as request" }).ClickAsync();
        await PaddockFixture.LandsOnAsync(vera, "/requests/[0-9a-f-]{36}$");
        var requestId = Guid.Parse(vera.Url[^36..]);
        await PaddockFixture.InteractiveAsync(vera);
        await Assertions.Expect(vera.GetByRole(AriaRole.Status).First).ToHaveTextAsync("Pending");

        // The admin sees it in the queue, with a count in the navigation.
        await admin.GotoAsync("/requests");
        await PaddockFixture.InteractiveAsync(admin);
        await Assertions.Expect(admin.GetByRole(AriaRole.Navigation).GetByLabel(new Regex("pending$"))).ToBeVisibleAsync();
        await admin.GetByRole(AriaRole.Link, new() { Name = "VM 'vera-two'" }).ClickAsync();
        await PaddockFixture.LandsOnAsync(admin, $"/requests/{requestId}$");
        await PaddockFixture.InteractiveAsync(admin);
        await Assertions.Expect(admin.GetByText("memory: requested 1024 MiB, in use 256 of 512 MiB.").First).ToBeVisibleAsync();

        // Approving without room is refused with the numbers; raising the quota in the same step approves it.
        await admin.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Alert)).ToContainTextAsync("Raise the quota");
        await admin.GetByLabel("Raise the quota so it fits").CheckAsync();
        await admin.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();

        // The requester sees the decision and the VM without reloading.
        await Assertions.Expect(vera.GetByRole(AriaRole.Link, new() { Name = "Open the VM 'vera-two'" })).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(myVms.GetByRole(AriaRole.Link, new() { Name = "vera-two" })).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(myVms.GetByLabel("Quota memory")).ToContainTextAsync("of 1280 MiB");
        await vera.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "request-approved.png") });

        // Every step is on the timeline.
        var timeline = await vera.GetByLabel("Timeline").InnerTextAsync();
        foreach (var step in new[] { "Submitted", "A load test needs a bigger machine.", "Approved, quota raised to fit", "VM created" })
        {
            Assert.Contains(step, timeline);
        }

        var view = (await (await vera.APIRequest.GetAsync($"/api/requests/{requestId}")).JsonAsync())!.Value;
        Assert.Equal("Approved", view.GetProperty("state").GetString());
        var second = view.GetProperty("vmId").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(vera, second);
        await PaddockFixture.RunningAndIdleAsync(vera, first);
        await DeleteAsync(vera, first);
        await DeleteAsync(vera, second);
        await admin.Context.CloseAsync();
        await vera.Context.CloseAsync();
    }

    [Fact]
    public async Task A_rejected_request_shows_its_reason_to_the_requester_live()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var yuri = await paddock.SignInAsync(PaddockFixture.Yuri);
        var submitted = await yuri.APIRequest.PostAsync("/api/requests", new()
        {
            Headers = PaddockFixture.ApiHeaders,
            DataObject = new { vm = new { name = "yuri-huge", vCpus = 16, memoryMiB = 65536 }, justification = "Training a model." },
        });
        Assert.True(submitted.Status == 201, await submitted.TextAsync());
        var id = (await submitted.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await yuri.GotoAsync($"/requests/{id}");
        await PaddockFixture.InteractiveAsync(yuri);
        await Assertions.Expect(yuri.GetByText("vCPUs: requested 16, in use 0 of 20")
            .Or(yuri.GetByText("memory: requested 65536 MiB, in use 0 of 32768 MiB.")).First).ToBeVisibleAsync();

        await admin.GotoAsync($"/requests/{id}");
        await PaddockFixture.InteractiveAsync(admin);
        // A rejection needs a reason.
        await admin.GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync();
        await Assertions.Expect(admin.GetByText("Reason: tell the requester why.")).ToBeVisibleAsync();
        await admin.GetByLabel("Reason for rejecting").FillAsync("No budget for GPUs this quarter.");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync();

        await Assertions.Expect(yuri.GetByRole(AriaRole.Status).Filter(new() { HasText = "Rejected by admin" }))
            .ToContainTextAsync("No budget for GPUs this quarter.", new() { Timeout = 30_000 });
        Assert.Contains("Rejected", await yuri.GetByLabel("Timeline").InnerTextAsync());
        // Decided is decided: a second decision is refused.
        var again = await admin.APIRequest.PostAsync($"/api/requests/{id}/approve",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { raiseQuota = true } });
        Assert.Equal(409, again.Status);
        Assert.Equal(0, (await (await yuri.APIRequest.GetAsync("/api/vms")).JsonAsync())!.Value.GetArrayLength());
        await admin.Context.CloseAsync();
        await yuri.Context.CloseAsync();
    }

    [Fact]
    public async Task A_one_minute_lease_tells_the_owner_and_ended_now_shuts_the_VM_down_and_marks_it_expired()
    {
        var xena = await paddock.SignInAsync(PaddockFixture.Xena);
        var created = await xena.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "xena-short", vCpus = 1, memoryMiB = 256, leaseMinutes = 1 } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await xena.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(xena);
        await PaddockFixture.ExpectStatusAsync(xena, "Running");

        // Told before it ends (the notice comes a day ahead, so at once), on the VM's page and on My VMs.
        await Assertions.Expect(xena.GetByRole(AriaRole.Status).Filter(new() { HasText = "The lease ends" })).ToBeVisibleAsync(new() { Timeout = 30_000 });
        var myVms = await xena.Context.NewPageAsync();
        await myVms.GotoAsync("/");
        await PaddockFixture.InteractiveAsync(myVms);
        await Assertions.Expect(myVms.GetByRole(AriaRole.Status).Filter(new() { HasText = "The lease of 'xena-short' ends" })).ToBeVisibleAsync();

        // Ended now by its owner (leaseMinutes 0): it is shut down and marked Expired, live, as at the end of its time.
        Assert.Equal(202, (await xena.APIRequest.PutAsync($"/api/vms/{vmId}/lease",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { leaseMinutes = 0 } })).Status);
        await Assertions.Expect(xena.GetByLabel("Lease state")).ToHaveTextAsync("Expired", new() { Timeout = 60_000 });
        await PaddockFixture.ExpectStatusAsync(xena, "Stopped");
        await Assertions.Expect(myVms.GetByLabel("Lease of xena-short")).ToHaveTextAsync("Expired");
        await xena.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "lease-expired.png") });

        // An expired VM does not start.
        var start = await xena.APIRequest.PostAsync($"/api/vms/{vmId}/start", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(409, start.Status);
        Assert.Contains("lease", await start.TextAsync());

        // Beyond Xena's longest lease an extension is a request; an admin's approval sets it.
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await SetQuotaAsync(admin, PaddockFixture.Xena, new { vms = 10 }, maxLeaseMinutes: 60);
        var tooLong = await xena.APIRequest.PutAsync($"/api/vms/{vmId}/lease",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { leaseMinutes = 24 * 60 } });
        Assert.Equal(409, tooLong.Status);
        Assert.Equal("Lease: 1 day asked, at most 1 hour for the owner's quota.", (await tooLong.JsonAsync())!.Value.GetProperty("reasons")[0].GetString());
        var asked = await xena.APIRequest.PostAsync("/api/requests",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { vmId, leaseMinutes = 24 * 60, justification = "The demo moved to tomorrow." } });
        Assert.True(asked.Status == 201, await asked.TextAsync());
        var requestId = (await asked.JsonAsync())!.Value.GetProperty("id").GetGuid();
        var approved = await admin.APIRequest.PostAsync($"/api/requests/{requestId}/approve",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { comment = "one day" } });
        Assert.True(approved.Status == 200, await approved.TextAsync());
        await Assertions.Expect(xena.GetByLabel("Lease state")).ToHaveCountAsync(0);
        await Assertions.Expect(xena.GetByLabel("Lease", new() { Exact = true })).ToContainTextAsync("(in 1 day)");
        // The expiry's shutdown task ends a moment after the status turns Stopped; a start before that is refused as in progress.
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(xena, vmId) == "Stopped", PaddockFixture.Boot, "the expiry's shutdown to end");
        var restart = await xena.APIRequest.PostAsync($"/api/vms/{vmId}/start", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.True(restart.Status == 202, await restart.TextAsync());
        await PaddockFixture.ExpectStatusAsync(xena, "Running");
        // Within the maximum, the owner sets it alone.
        Assert.Equal(202,
            (await xena.APIRequest.PutAsync($"/api/vms/{vmId}/lease",
                new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { leaseMinutes = 30 } })).Status);
        await admin.Context.CloseAsync();
        Assert.Contains("vmexpired", await EventTypesAsync(vmId));
        await DeleteAsync(xena, vmId);
        await xena.Context.CloseAsync();
    }

    [Fact]
    public async Task Fifty_concurrent_creates_through_two_portals_against_a_quota_of_five_make_exactly_five_VMs()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await SetQuotaAsync(admin, PaddockFixture.Wes, new { vms = 5 });
        var wes = await paddock.SignInAsync(PaddockFixture.Wes);
        var second = await paddock.StartSecondPortalAsync();
        using var one = await paddock.ApiClientAsAsync(wes, paddock.PortalUrl);
        using var two = await paddock.ApiClientAsAsync(wes, second);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await two.GetAsync("/api/quota")).StatusCode);
        var dirsBefore = Directory.GetDirectories(paddock.VmsDir).Length;

        // From an ISO, not a template: a create from a template also stores the template again
        // (version-checked), which alone would serialise these creates. Here only the quota ledger can.
        var iso = new ByteArrayContent(
            [.. await File.ReadAllBytesAsync(Path.Combine(paddock.ImagesDir, "builtin-busybox.iso")),
                .. System.Security.Cryptography.RandomNumberGenerator.GetBytes(2048)]);
        iso.Headers.ContentType = new("application/octet-stream");
        using var uploaded = await one.PostAsync("/api/images?name=wes-iso&kind=iso&format=raw", iso);
        Assert.True(uploaded.StatusCode == System.Net.HttpStatusCode.Created, await uploaded.Content.ReadAsStringAsync());
        var imageId = JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();

        // All fifty at once, alternating between the two processes.
        using var go = new SemaphoreSlim(0);
        var attempts = Enumerable.Range(0, 50).Select(async i =>
        {
            await go.WaitAsync();
            using var response = await (i % 2 == 0 ? one : two)
                .PostAsJsonAsync("/api/vms", new { name = $"wes-{i:00}", vCpus = 1, memoryMiB = 256, imageId, diskMiB = 64 });
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }).ToList();
        go.Release(50);
        var answers = await Task.WhenAll(attempts);

        var admitted = answers.Where(a => a.Item1 == 201).Select(a => JsonDocument.Parse(a.Item2).RootElement.GetProperty("id").GetGuid()).ToList();
        var refused = answers.Where(a => a.Item1 != 201).ToList();
        Assert.True(admitted.Count == 5, string.Join("\n", answers.Select(a => $"{a.Item1} {a.Item2}")));
        Assert.Equal(45, refused.Count);
        Assert.All(refused, r =>
        {
            Assert.Equal(409, r.Item1);
            Assert.Contains("VMs: requested 1 VM, in use 5 of 5 VMs", r.Item2);
        });

        // Five in the database (documents and streams), five QEMU processes, five overlays.
        await using (var db = new NpgsqlConnection(paddock.Connection))
        {
            await db.OpenAsync();
            await using var vms = new NpgsqlCommand(
                "select count(*) from paddock.mt_doc_vm " +
                "where data->>'OwnerId' = (select id::text from paddock.mt_doc_portaluser where data->>'UserName' = 'wes')", db);
            Assert.Equal(5L, (long)(await vms.ExecuteScalarAsync())!);
            await using var streams = new NpgsqlCommand(
                "select count(distinct stream_id) from paddock.mt_events where type = 'vm_created' " +
                "and data->>'OwnerId' = (select id::text from paddock.mt_doc_portaluser where data->>'UserName' = 'wes')", db);
            Assert.Equal(5L, (long)(await streams.ExecuteScalarAsync())!);
        }

        foreach (var id in admitted)
        {
            await PaddockFixture.RunningAndIdleAsync(wes, id);
            Assert.True(File.Exists(Path.Combine(paddock.VmsDir, id.ToString(), "disk-disk0.qcow2")), $"overlay of {id}");
        }

        Assert.Equal(5, await QemuCountAsync(admitted));
        Assert.Equal(dirsBefore + 5, Directory.GetDirectories(paddock.VmsDir).Length);
        foreach (var id in admitted)
        {
            await DeleteAsync(wes, id);
        }

        await paddock.StopAgentAsync("portal2");
        await admin.Context.CloseAsync();
        await wes.Context.CloseAsync();
    }

    private static async Task<int> QemuCountAsync(IEnumerable<Guid> ids)
    {
        var count = 0;
        foreach (var id in ids)
        {
            using var pgrep = Process.Start(new ProcessStartInfo("pgrep", ["-f", $"qemu-system-x86_64 -name guest={id}"]) { RedirectStandardOutput = true })!;
            var output = await pgrep.StandardOutput.ReadToEndAsync();
            await pgrep.WaitForExitAsync();
            count += output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        }

        return count;
    }

    private async Task<IReadOnlyList<string>> EventTypesAsync(Guid vmId)
    {
        await using var db = new NpgsqlConnection(paddock.Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("select type from paddock.mt_events where stream_id = @id order by version", db);
        command.Parameters.AddWithValue("id", vmId);
        var types = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            types.Add(reader.GetString(0).Replace("_", "", StringComparison.Ordinal));
        }

        return types;
    }

    /// <summary>Powers the VM off and deletes it through the API, waiting until it is gone: the run's other tests need the cores.</summary>
    private static async Task DeleteAsync(IPage page, Guid vmId)
    {
        await page.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders });
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, vmId) is "Stopped" or "Crashed", PaddockFixture.Boot, $"VM {vmId} to stop");
        await Eventually.Async(
            async () => (await page.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status == 202,
            TimeSpan.FromSeconds(30), $"the delete of {vmId} to be accepted");
        await Eventually.Async(async () => (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).Status == 404, PaddockFixture.Boot, $"VM {vmId} to be deleted");
    }
}
