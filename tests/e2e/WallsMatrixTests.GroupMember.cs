using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>
/// The third identity of the walls matrix: a fellow member of the owner's group. For every route
/// that takes a VM it gets what the README's rights table says: the use of the VM (not 403, not
/// 404), and for the owner's word a 403 that says so, with the VM left as it was.
/// </summary>
public sealed partial class WallsMatrixTests
{
    /// <summary>What a fellow member of the owner's group may do on a route that takes a VM.</summary>
    private enum Member
    {
        /// <summary>Use it: see it, consoles, power, take snapshots, the CD.</summary>
        Uses,

        /// <summary>The owner's (or an admin's) word: a 403 naming the owner.</summary>
        OwnerOnly,
    }

    /// <summary>The verbs of <c>POST /api/vms/{id}/{verb}</c>, each with its row of the table.</summary>
    private static readonly (string Verb, Member Member)[] MemberVerbs =
    [
        ("start", Member.Uses), ("shutdown", Member.Uses), ("reboot", Member.Uses), ("pause", Member.Uses), ("resume", Member.Uses),
        ("reset", Member.Uses), ("poweroff", Member.Uses), ("save", Member.Uses), ("restore", Member.Uses), ("delete", Member.OwnerOnly),
    ];

    /// <summary>What a refused operation could have changed, as the owner reads the VM.</summary>
    private static readonly string[] OwnersWord = ["name", "groupId", "vCpus", "memoryMiB", "diskBytes", "extraDisks", "extraNics", "settings",
        "expiresAt", "templateId"];

    [Fact]
    public async Task A_fellow_group_member_gets_on_every_vm_route_what_the_rights_table_says_and_the_owners_word_leaves_the_vm_as_it_was()
    {
        Assert.Empty(Table.Where(e => e.Value.Takes == Takes.Vm && e.Value.Member is null).Select(e => e.Key));

        // Olga's stopped VM, shared with a group that Pete is in too.
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var group = $"walls-{suffix}";
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/groups");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("New group name").FillAsync(group);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create group" }).ClickAsync();
        foreach (var user in new[] { PaddockFixture.Olga, PaddockFixture.Pete })
        {
            await admin.GetByLabel($"User to add to {group}").FillAsync(user);
            await admin.GetByRole(AriaRole.Button, new() { Name = $"Add to {group}" }).ClickAsync();
            await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Groups" })).ToContainTextAsync(user);
        }

        // The group's id, from the quota the admin gives it (room enough for this VM).
        var quota = await admin.APIRequest.PutAsync($"/api/quotas/groups/{group}",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { limits = new { vms = 100 } } });
        Assert.True(quota.Ok, await quota.TextAsync());
        var groupId = (await quota.JsonAsync())!.Value.GetProperty("id").GetGuid();
        var owner = await paddock.SignInAsync(PaddockFixture.Olga);
        var member = await paddock.SignInAsync(PaddockFixture.Pete);
        var name = $"olga-vm-{suffix}";
        var created = await owner.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, vCpus = 1, memoryMiB = 256, groupId, start = false } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var vmId = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await Eventually.Async(async () => (await ViewAsync(owner, vmId))["pendingOperation"] is null, PaddockFixture.Boot, "the VM to be created");
        var before = Owned(await ViewAsync(owner, vmId));
        // Its Create task, which the member may read as the owner does.
        var createTask = (await (await owner.APIRequest.GetAsync($"/api/vms/{vmId}/tasks")).JsonAsync())!.Value[0].GetProperty("operationId").GetGuid();

        foreach (var (key, entry) in Table.Where(e => e.Value.Takes == Takes.Vm))
        {
            var parts = key.Split(' ');
            var method = parts[1] is "*" or "GET,HEAD" or "GET,POST" ? "GET" : parts[1];
            foreach (var (verb, expected) in parts[2].Contains("{verb}", StringComparison.Ordinal) ? MemberVerbs : [("start", entry.Member!.Value)])
            {
                var path = Parameter().Replace(parts[2], m => m.Groups[1].Value switch
                {
                    "id" or "Id" or "vmId" => vmId.ToString(),
                    "verb" => verb,
                    "name" => "b-snap",
                    "forwardId" => Guid.NewGuid().ToString(),
                    "viewerId" or "shareId" => Guid.NewGuid().ToString("N"),
                    "operationId" => createTask.ToString(),
                    var other => throw new InvalidOperationException($"{key}: no value for {{{other}}}"),
                });
                await ExpectForMemberAsync(member, $"{parts[0]} {method} {path}", method, path, entry.Body?.Invoke(vmId), expected, name, vmId);
            }
        }

        // Nothing the member was refused changed the VM, nor made the member anything of it.
        var after = await ViewAsync(owner, vmId);
        Assert.Equal(before, Owned(after));
        Assert.NotEqual("Delete", (string?)after["pendingOperation"]);
        Assert.Single((await (await member.APIRequest.GetAsync("/api/vms")).JsonAsync())!.Value.EnumerateArray());
        Assert.Equal(0, (await (await member.APIRequest.GetAsync("/api/requests")).JsonAsync())!.Value.GetArrayLength());
        Assert.DoesNotContain("b-stolen", await (await member.APIRequest.GetAsync("/api/templates")).TextAsync());

        // Its page: the owner's buttons are disabled under their own names, and the member is told why.
        await member.GotoAsync($"/vms/{vmId}");
        await PaddockFixture.InteractiveAsync(member);
        foreach (var button in new[] { "Delete", "Clone", "Convert to template", "Add disk", "Save settings" })
        {
            await Assertions.Expect(member.GetByRole(AriaRole.Button, new() { Name = button, Exact = true })).ToBeDisabledAsync();
        }

        await Assertions.Expect(member.GetByRole(AriaRole.Note, new() { Name = "Your rights" })).ToContainTextAsync($"{PaddockFixture.Olga} owns it");
        await Assertions.Expect(member.GetByRole(AriaRole.Note)
            .Filter(new() { HasText = $"Only the owner of '{name}' or an admin may change its hardware." })).ToBeVisibleAsync();

        // The owner takes it away: powered off (the member started it), then deleted, each once the task before has ended.
        await Eventually.Async(async () =>
        {
            await owner.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders });
            return (await owner.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status == 202;
        }, PaddockFixture.Boot, "the owner's delete to be accepted");
        foreach (var page in new[] { admin, owner, member })
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>Asks a route as the group member: its use is not refused; the owner's word is a 403 that says so.</summary>
    private static async Task ExpectForMemberAsync(
        IPage member, string what, string method, string path, object? body, Member expected, string vmName, Guid vmId)
    {
        if (what.StartsWith("page", StringComparison.Ordinal))
        {
            var shown = await PageAsync(member, path, [vmId]);
            Assert.True(expected == Member.Uses, $"{what}: a page the table refuses the member");
            Assert.False(shown.Contains("Not found", StringComparison.Ordinal), $"{what} is not found for the group member: {shown}");
            return;
        }

        var answer = await AnswerAsync(member, method, path, body, [vmId]);
        var status = int.Parse(answer.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        if (expected == Member.Uses)
        {
            Assert.True(status is not (403 or 404), $"{what} refused the group member: {answer}");
        }
        else
        {
            Assert.True(status == 403, $"{what} answered the group member {answer}, not 403");
            // The title as sent: the JSON of the answer escapes the quotes around the VM's name.
            var title = (string?)JsonNode.Parse(answer[(answer.IndexOf(' ', StringComparison.Ordinal) + 1)..])!["title"];
            Assert.StartsWith($"Only the owner of '{vmName}' or an admin may ", title);
        }
    }

    private static async Task<JsonObject> ViewAsync(IPage page, Guid vmId) =>
        JsonNode.Parse(await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).TextAsync())!.AsObject();

    private static string Owned(JsonObject vm) => string.Join("\n", OwnersWord.Select(field => $"{field}: {vm[field]?.ToJsonString()}"));
}
