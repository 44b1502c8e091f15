using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Paddock.Engine.Contract;

namespace Paddock.E2e;

public sealed partial class AgentFuzzTests
{
    /// <summary>
    /// A host whose agent takes a command and does not answer holds up only its own commands: while
    /// it sits on a create, a delete on another host is carried out well within the time a host has
    /// to accept (20 s), the Hosts page shows the held command and how long it has gone unanswered,
    /// and once the host answers, its command had gone out once.
    /// </summary>
    [Fact]
    public async Task A_host_that_does_not_answer_holds_up_only_its_own_commands()
    {
        var member = await paddock.SignInAsync(PaddockFixture.Fuzzy);
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        using var api = await paddock.ApiClientAsAsync(member, paddock.PortalUrl);
        var release = new TaskCompletionSource();
        Guid? held = null;
        RawHubConnection? silentHub = null;
        var failed = false;
        try
        {
            // A VM on a real host, made before the silent host joins (it would win the placement).
            var bystander = await CreateStoppedAsync(api, "bystander");
            await Eventually.Async(async () => (string?)(await VmAsync(api, bystander))["status"] == "Stopped", TimeSpan.FromSeconds(30), "the bystander VM made");

            var silent = await FuzzHost.EnrollAsync(paddock, "fuzz-silent");
            silentHub = await silent.ConnectAsync(paddock, silent.Registration(room: true));
            silentHub.Hold = (target, _) => target == nameof(IHostAgent.Execute) ? release.Task : Task.CompletedTask;
            silentHub.Answer = (target, args) => target == nameof(IHostAgent.Execute) ? new JsonObject { ["operationId"] = args[0]!["operationId"]!.DeepClone(), ["accepted"] = true } : null;
            held = await CreateStoppedAsync(api, "held");
            var create = await CommandAsync(silentHub, held.Value, VmVerb.Create);

            // Meanwhile the bystander's delete goes to its own host, which carries it out.
            using (var delete = await api.PostAsync($"/api/vms/{bystander}/delete", null))
            {
                Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
            }

            await Eventually.Async(async () => (await api.GetAsync($"/api/vms/{bystander}")).StatusCode == HttpStatusCode.NotFound,
                TimeSpan.FromSeconds(15), "the bystander deleted while the silent host holds its command");

            // The Hosts page shows what the silent host holds.
            await admin.GotoAsync("/admin/hosts");
            await PaddockFixture.InteractiveAsync(admin);
            await admin.GetByLabel("Find a host").FillAsync("fuzz-silent");
            var commands = admin.GetByLabel("Commands of fuzz-silent", new() { Exact = true });
            await Assertions.Expect(commands).ToContainTextAsync("1 under way, no answer for");
            await admin.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "hosts-commands.png"), FullPage = true });

            // Once it answers, its create ends as it says; it was sent once.
            release.SetResult();
            await CompleteAsync(silentHub, create, held.Value, "Stopped");
            await Eventually.Async(async () => (string?)(await VmAsync(api, held.Value))["status"] == "Stopped", TimeSpan.FromSeconds(30), "the held VM made");
            Assert.Single(silentHub.Seen, s => s.Target == nameof(IHostAgent.Execute) && (Guid?)s.Arguments[0]!["vmId"] == held);
            await Assertions.Expect(commands).ToHaveTextAsync("none");
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            release.TrySetResult();
            if (silentHub is not null)
            {
                try
                {
                    if (held is { } vmId)
                    {
                        await DeleteOnItsHostAsync(api, silentHub, vmId);
                    }
                }
                catch (Exception) when (failed)
                {
                    // The test's own failure is the one to read.
                }

                await silentHub.DisposeAsync();
            }

            await member.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    private static async Task<Guid> CreateStoppedAsync(HttpClient api, string name)
    {
        using var answer = await api.PostAsJsonAsync("/api/vms", new { name = $"{name}-{Guid.NewGuid():N}"[..(name.Length + 7)], vCpus = 1, memoryMiB = 256, start = false });
        Assert.True(answer.StatusCode == HttpStatusCode.Created, await answer.Content.ReadAsStringAsync());
        return Guid.Parse((string)(await answer.Content.ReadFromJsonAsync<JsonObject>())!["id"]!);
    }
}
