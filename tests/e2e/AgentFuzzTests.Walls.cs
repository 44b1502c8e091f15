using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Paddock.Engine.Contract;

namespace Paddock.E2e;

public sealed partial class AgentFuzzTests
{
    /// <summary>
    /// A host speaks only for its own VMs: what another host reports about them (a status, the end of
    /// a task it is not running, a registration listing them, their usage) changes nothing, while
    /// their own host's word still counts; the owner's own hostile reports are refused, not failed on.
    /// </summary>
    [Fact]
    public async Task A_host_may_report_only_on_its_own_vms_and_its_own_operations()
    {
        var intruder = await FuzzHost.EnrollAsync(paddock, "fuzz-agent-intruder");
        var owner = await FuzzHost.EnrollAsync(paddock, "fuzz-agent-owner");
        await using var ownerHub = await owner.ConnectAsync(paddock, owner.Registration(room: true));
        ownerHub.Answer = (target, args) => target == nameof(IHostAgent.Execute) ? new JsonObject { ["operationId"] = args[0]!["operationId"]!.DeepClone(), ["accepted"] = true } : null;
        await using var intruderHub = await intruder.ConnectAsync(paddock);
        var member = await paddock.SignInAsync(PaddockFixture.Fuzzy);
        using var api = await paddock.ApiClientAsAsync(member, paddock.PortalUrl);
        Guid? created = null;
        var failed = false;
        try
        {
            // A VM on the owner host (it has the most room): created and stopped there, as the owner says.
            using var answer = await api.PostAsJsonAsync("/api/vms", new { name = $"walled-{Guid.NewGuid():N}"[..14], vCpus = 1, memoryMiB = 256, start = false });
            Assert.True(answer.StatusCode == HttpStatusCode.Created, await answer.Content.ReadAsStringAsync());
            var vmId = Guid.Parse((string)(await answer.Content.ReadFromJsonAsync<JsonObject>())!["id"]!);
            created = vmId;
            await CompleteAsync(ownerHub, await CommandAsync(ownerHub, vmId, VmVerb.Create), vmId, "Stopped");
            await Eventually.Async(async () => (string?)(await VmAsync(api, vmId))["status"] == "Stopped", TimeSpan.FromSeconds(30), "the VM stopped on its host");

            // The intruder's word about it counts for nothing.
            Assert.Equal(HttpStatusCode.Accepted, (await api.PostAsync($"/api/vms/{vmId}/start", null)).StatusCode);
            var start = await CommandAsync(ownerHub, vmId, VmVerb.Start);
            await IntrudeAsync(intruderHub, intruder, vmId, start);
            var vm = await VmAsync(api, vmId);
            Assert.Equal("Start", (string?)vm["pendingOperation"]);
            Assert.Null((string?)vm["lastError"]);
            Assert.NotEqual("Crashed", (string?)vm["status"]);
            Assert.Equal(0, await UsageNamingAsync(intruder.Id, vmId));

            // Its own host's word counts.
            await CompleteAsync(ownerHub, start, vmId, "Running");
            await Eventually.Async(async () => (string?)(await VmAsync(api, vmId))["status"] == "Running", TimeSpan.FromSeconds(30), "the VM running on its host");
            Assert.Null((await ownerHub.InvokeAsync(nameof(IHostHub.ReportUsage), Usage(vmId).ToJsonString())).Error);
            Assert.Equal(1, await UsageNamingAsync(owner.Id, vmId));
            await ReportInPartsAsync(ownerHub, owner, vmId);

            // The owner's hostile reports about its own VM are refused or taken, never failed on.
            var failures = await ReportHostileAsync(ownerHub, vmId);
            Assert.True(failures.Count == 0, string.Join('\n', failures.Take(60)));
            Assert.True(ownerHub.IsOpen, ownerHub.ClosedWith);
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            try
            {
                if (created is { } vmId)
                {
                    await DeleteOnItsHostAsync(api, ownerHub, vmId);
                }
            }
            catch (Exception) when (failed)
            {
                // The test's own failure is the one to read; a VM left on a host that is gone turns Unknown.
            }

            await member.Context.CloseAsync();
        }
    }

    /// <summary>The intruder says the VM crashed, ends its task, lists it in a registration and reports its QEMU's usage; each call is taken.</summary>
    private static async Task IntrudeAsync(RawHubConnection intruderHub, FuzzHost intruder, Guid vmId, Guid start)
    {
        foreach (var (method, argument) in new (string, JsonObject)[]
        {
            (nameof(IHostHub.ReportVm), VmReport(vmId, "Crashed", FuzzCases.Tag)),
            (nameof(IHostHub.ReportOperation), OperationReport(start, vmId, "Failed", "the intruder says so")),
            (nameof(IHostHub.Register), intruder.Registration(vms: new JsonArray(VmReport(vmId, "Crashed", FuzzCases.Tag)))),
            (nameof(IHostHub.ReportUsage), Usage(vmId)),
        })
        {
            var said = await intruderHub.InvokeAsync(method, argument.ToJsonString());
            Assert.True(said.Error is null && !said.Closed, $"{method} from the intruder: {said}");
        }
    }

    /// <summary>Reports about the host's own VM with one field at a time hostile (values within the hub's message limit): what failed.</summary>
    private async Task<List<string>> ReportHostileAsync(RawHubConnection ownerHub, Guid vmId)
    {
        var hub = (await FuzzRunner.RoutesAsync(paddock)).Single(r => (string)r["kind"]! == "hub" && (string)r["route"]! == "/hubs/hosts");
        var shape = hub["hubParameters"]![nameof(IHostHub.ReportVm)]![0]!;
        var failures = new List<string>();
        foreach (var (why, json) in FuzzCases.FieldCases(shape, VmReport(vmId, "Running")).Where(c => !c.Why.StartsWith("field vmId", StringComparison.Ordinal) && !OverTheLimit().IsMatch(c.Why)))
        {
            var said = await ownerHub.InvokeAsync(nameof(IHostHub.ReportVm), json);
            if (!said.Closed && HubProblem(nameof(IHostHub.ReportVm), said) is { } problem)
            {
                failures.Add($"ReportVm of its own VM, {why}: {FuzzRunner.Cut(problem)}");
            }
        }

        return failures;
    }

    /// <summary>
    /// The owner host ends what it was asked (a test that failed half-way may leave a task open) and
    /// reports the VM stopped, then deletes it when the portal asks: nothing of the test is left.
    /// </summary>
    private static async Task DeleteOnItsHostAsync(HttpClient api, RawHubConnection ownerHub, Guid vmId)
    {
        foreach (var (_, arguments) in ownerHub.Seen.Where(s => s.Target == nameof(IHostAgent.Execute) && (Guid?)s.Arguments[0]!["vmId"] == vmId))
        {
            await ownerHub.InvokeAsync(nameof(IHostHub.ReportOperation), OperationReport((Guid)arguments[0]!["operationId"]!, vmId, "Succeeded").ToJsonString());
        }

        while (ownerHub.Invoked.Reader.TryRead(out _))
        {
            // Taken: the delete's command is the next one.
        }

        await ownerHub.InvokeAsync(nameof(IHostHub.ReportVm), VmReport(vmId, "Stopped").ToJsonString());
        using var delete = await api.PostAsync($"/api/vms/{vmId}/delete", null);
        Assert.True(delete.StatusCode == HttpStatusCode.Accepted, await delete.Content.ReadAsStringAsync());
        await CompleteAsync(ownerHub, await CommandAsync(ownerHub, vmId, VmVerb.Delete), vmId, "Missing");
        await Eventually.Async(async () => (await api.GetAsync($"/api/vms/{vmId}")).StatusCode == HttpStatusCode.NotFound, TimeSpan.FromSeconds(30), "the VM deleted");
    }

    /// <summary>The next command the portal sent the host for <paramref name="vmId"/>, which must be <paramref name="verb"/>: its operation id.</summary>
    private static async Task<Guid> CommandAsync(RawHubConnection hub, Guid vmId, VmVerb verb)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var (target, arguments) = await hub.Invoked.Reader.ReadAsync(deadline.Token);
            if (target == nameof(IHostAgent.Execute) && (Guid?)arguments[0]!["vmId"] == vmId)
            {
                Assert.Equal((int)verb, (int?)arguments[0]!["verb"]);
                return (Guid)arguments[0]!["operationId"]!;
            }
        }
    }

    /// <summary>The host reports the operation done and the VM in <paramref name="state"/>.</summary>
    private static async Task CompleteAsync(RawHubConnection hub, Guid operation, Guid vmId, string state)
    {
        Assert.Null((await hub.InvokeAsync(nameof(IHostHub.ReportOperation), OperationReport(operation, vmId, "Succeeded").ToJsonString())).Error);
        Assert.Null((await hub.InvokeAsync(nameof(IHostHub.ReportVm), VmReport(vmId, state).ToJsonString())).Error);
    }

    private static JsonObject OperationReport(Guid operation, Guid vmId, string state, string? message = null) => new()
    {
        ["operationId"] = operation,
        ["vmId"] = vmId,
        ["state"] = (int)Enum.Parse<OperationState>(state),
        ["message"] = message,
    };

    /// <summary>
    /// A usage report in two parts: the first (no VM) replaces the last report, the second adds the
    /// VM to it; a late second part of an older report is dropped, and a part past the count refused.
    /// </summary>
    private async Task ReportInPartsAsync(RawHubConnection ownerHub, FuzzHost owner, Guid vmId)
    {
        var at = DateTimeOffset.UtcNow;
        Assert.Null((await ownerHub.InvokeAsync(nameof(IHostHub.ReportUsage), Usage(null, at, part: 0, parts: 2).ToJsonString())).Error);
        Assert.Equal(0, await UsageNamingAsync(owner.Id, vmId));
        Assert.Null((await ownerHub.InvokeAsync(nameof(IHostHub.ReportUsage), Usage(vmId, at, part: 1, parts: 2).ToJsonString())).Error);
        Assert.Equal(1, await UsageNamingAsync(owner.Id, vmId));
        Assert.Null((await ownerHub.InvokeAsync(nameof(IHostHub.ReportUsage), Usage(vmId, at.AddSeconds(-5), part: 1, parts: 2).ToJsonString())).Error);
        Assert.Equal(1, await UsageNamingAsync(owner.Id, vmId));
        var refused = await ownerHub.InvokeAsync(nameof(IHostHub.ReportUsage), Usage(vmId, at, part: 2, parts: 2).ToJsonString());
        Assert.Contains("part and parts", refused.Error);
        Assert.True(ownerHub.IsOpen, ownerHub.ClosedWith);
    }

    /// <summary>Usage naming the VM (none when null), as if its QEMU ran as root without a sandbox.</summary>
    private static JsonObject Usage(Guid? vmId, DateTimeOffset? at = null, int part = 0, int parts = 1) => new()
    {
        ["rssBytes"] = 1,
        ["cpuSeconds"] = 1,
        ["vms"] = vmId is { } id ? new JsonArray(new JsonObject { ["vmId"] = id, ["rssBytes"] = 1, ["cpuSeconds"] = 1, ["uid"] = 0, ["gid"] = 0, ["seccomp"] = 0 }) : new JsonArray(),
        ["ksm"] = new JsonObject { ["available"] = false, ["running"] = false, ["pagesShared"] = 0, ["pagesSharing"] = 0, ["savedBytes"] = 0, ["note"] = null },
        ["at"] = at ?? DateTimeOffset.UtcNow,
        ["managesKsm"] = false,
        ["part"] = part,
        ["parts"] = parts,
    };

    private static async Task<JsonObject> VmAsync(HttpClient api, Guid vmId) => (await api.GetFromJsonAsync<JsonObject>($"/api/vms/{vmId}"))!;

    /// <summary>How many entries of the host's stored usage report name the VM.</summary>
    private Task<long> UsageNamingAsync(Guid hostId, Guid vmId) =>
        paddock.CountAsync("select count(*) from paddock.mt_doc_hostusagereport, jsonb_array_elements(data->'Vms') v where id = @host and v->>'VmId' = @vm", ("host", hostId), ("vm", vmId.ToString()));
}
