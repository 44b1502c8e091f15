using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed partial class TemplateTests(PaddockFixture paddock)
{
    [Fact]
    public async Task Two_linked_clones_of_a_template_boot_at_once_under_their_own_uids_and_leave_its_image_unchanged()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Ivan);
        var goldenId = await PaddockFixture.CreateVmAsync(page, "golden");
        var goldenDir = Path.Combine(paddock.VmsDir, goldenId.ToString());
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(goldenDir);
        await GuestSerial.RunAsync(goldenDir, "echo golden-marker | dd of=/dev/vda bs=1M seek=100 conv=fsync 2>/dev/null; echo done-\"dd\"", until: "done-dd");
        await page.GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Power off" }).ClickAsync();
        await PaddockFixture.ExpectStatusAsync(page, "Stopped");

        // Convert: the VM goes, the template comes with its image's checksum.
        await page.GetByRole(AriaRole.Button, new() { Name = "Convert to template" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Template name").FillAsync("golden-tpl");
        await dialog.GetByLabel("Description").FillAsync("busybox with a marker at 100 MiB");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Convert" }).ClickAsync();
        // Its progress, while the disk is copied, is another status on the page.
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "The VM is now the template 'golden-tpl'" }))
            .ToBeVisibleAsync(new() { Timeout = 60_000 });
        Assert.False(Directory.Exists(goldenDir), "the VM's files are gone");
        var template = await TemplateAsync(page, "golden-tpl");
        var checksum = template.GetProperty("sha256").GetString()!;
        // In the portal's library, and in the host's store where it was made: the same bytes, read-only, standalone,
        // and root's alone until VMs made from it get their uids let in.
        var library = Path.Combine(paddock.LibraryDir, $"{checksum}.qcow2");
        var image = Path.Combine(paddock.ImagesDir, $"{checksum}.qcow2");
        Assert.Equal(checksum, PaddockFixture.Sha256Of(library));
        Assert.Equal(checksum, PaddockFixture.Sha256Of(image));
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(image));
        Assert.DoesNotContain("backing", await PaddockFixture.RunAsync("qemu-img", "info", "-f", "qcow2", image));

        // Two linked clones from the templates page; both boot at once.
        await page.GetByRole(AriaRole.Link, new() { Name = "Templates", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Templates" })).ToContainTextAsync("golden-tpl");
        var clones = new List<Guid>();
        foreach (var name in new[] { "linked-1", "linked-2" })
        {
            await page.GotoAsync("/templates");
            await PaddockFixture.InteractiveAsync(page);
            await page.GetByRole(AriaRole.Button, new() { Name = "New VM from golden-tpl" }).ClickAsync();
            var create = page.GetByRole(AriaRole.Dialog);
            // Chosen, with its description under it.
            await Assertions.Expect(create).ToContainTextAsync("busybox with a marker at 100 MiB");
            await create.GetByLabel("Name").FillAsync(name);
            clones.Add(await PaddockFixture.SubmitCreateAsync(page, name));
            await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Details" })).ToContainTextAsync("golden-tpl (linked clone)");
        }

        var dirs = clones.Select(id => Path.Combine(paddock.VmsDir, id.ToString())).ToArray();
        await Eventually.Async(() => dirs.All(d => GuestSerial.Banners(Path.Combine(d, "serial.log")) == 1), PaddockFixture.Boot, "both clones' shells");
        var uids = dirs.Select(d =>
        {
            var pid = int.Parse(File.ReadAllText(Path.Combine(d, "qemu", "qemu.pid")).Trim());
            return int.Parse(UidLine().Match(File.ReadAllText($"/proc/{pid}/status")).Groups[1].Value);
        }).ToArray();
        Assert.NotEqual(uids[0], uids[1]);
        Assert.DoesNotContain(0, uids);
        var acl = await PaddockFixture.RunAsync("getfacl", "-n", "-p", image);
        Assert.All(uids, uid => Assert.Contains($"user:{uid}:r--", acl));
        Assert.Contains("other::---", acl);

        // Each disk is a thin overlay on the template's image, its format stated.
        foreach (var dir in dirs)
        {
            var info = JsonDocument.Parse(
                await PaddockFixture.RunAsync("qemu-img", "info", "-U", "-f", "qcow2", "--output=json", Path.Combine(dir, "disk-disk0.qcow2"))).RootElement;
            Assert.Equal(image, info.GetProperty("full-backing-filename").GetString());
            Assert.Equal("qcow2", info.GetProperty("backing-filename-format").GetString());
        }

        // Both read the template's bytes; each writes to its own overlay only.
        for (var i = 0; i < 2; i++)
        {
            var read = await GuestSerial.RunAsync(dirs[i], "dd if=/dev/vda bs=1M skip=100 count=1 2>/dev/null | head -c 13; echo; echo done-\"read\"",
                until: "done-read");
            Assert.Contains("golden-marker", read);
            await GuestSerial.RunAsync(dirs[i], $"echo own-{i}-marker | dd of=/dev/vda bs=1M seek=120 conv=fsync 2>/dev/null; echo done-\"w{i}\"",
                until: $"done-w{i}");
        }

        var second = await GuestSerial.RunAsync(dirs[1], "dd if=/dev/vda bs=1M skip=120 count=1 2>/dev/null | head -c 12; echo; echo done-\"r2\"",
            until: "done-r2");
        Assert.Contains("own-1-marker", second);
        Assert.DoesNotContain("own-0-marker", second);
        Assert.Equal(checksum, PaddockFixture.Sha256Of(image));

        // The template cannot go while its clones exist, and the refusal names them.
        await page.GotoAsync("/templates");
        await PaddockFixture.InteractiveAsync(page);
        await Assertions.Expect(page.GetByLabel("Linked clones of golden-tpl")).ToHaveTextAsync("2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete template golden-tpl" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("'golden-tpl' has 2 linked clones ('linked-1', 'linked-2')");
        Assert.True(File.Exists(library));
        await page.ScreenshotAsync(new() { Path = Path.Combine(paddock.Artifacts, "templates.png") });

        // Once they are gone it can, live on the page, and its image leaves the host.
        var api = page.APIRequest;
        foreach (var id in clones)
        {
            // Deleted once the power-off task has ended, not when the status first reads Stopped.
            await VmApi.DeleteAsync(page, id);
        }

        await Assertions.Expect(page.GetByLabel("Linked clones of golden-tpl")).ToHaveTextAsync("0", new() { Timeout = 60_000 });
        Assert.Equal(checksum, PaddockFixture.Sha256Of(image));
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete template golden-tpl" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Templates" })).Not.ToContainTextAsync("golden-tpl", new() { Timeout = 30_000 });
        Assert.False(File.Exists(library));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task An_admin_publishes_a_template_to_a_group_and_only_its_members_see_it()
    {
        var judy = await paddock.SignInAsync(PaddockFixture.Judy);
        var bob = await paddock.SignInAsync(PaddockFixture.Bob);
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);

        // Judy's own template, from a VM she powers off before it has booted.
        var response = await judy.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "proto", vcpus = 1, memoryMiB = 128 } });
        Assert.Equal(201, response.Status);
        var vmId = (await response.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await PaddockFixture.RunningAndIdleAsync(judy, vmId);
        Assert.Equal(202, (await judy.APIRequest.PostAsync($"/api/vms/{vmId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(judy, vmId) == "Stopped", TimeSpan.FromSeconds(60), "proto to stop");
        var convert = await judy.APIRequest.PostAsync($"/api/vms/{vmId}/template",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "lab-base" } });
        Assert.Equal(202, convert.Status);
        var templateId = (await convert.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await Eventually.Async(
            async () => (await TemplateAsync(judy, "lab-base")).GetProperty("state").GetString() == "Ready",
            TimeSpan.FromSeconds(60), "the template");

        // Private: Bob gets the same answer as for an id that does not exist.
        var missing = await bob.APIRequest.GetAsync($"/api/templates/{Guid.NewGuid()}");
        Assert.Equal(404, missing.Status);
        Assert.Equal(404, (await bob.APIRequest.GetAsync($"/api/templates/{templateId}")).Status);
        Assert.Equal(Problem(await missing.TextAsync()), Problem(await (await bob.APIRequest.GetAsync($"/api/templates/{templateId}")).TextAsync()));

        // The admin makes a group with Judy's colleague Gina in it and publishes the template to it.
        await admin.GotoAsync("/admin/groups");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByLabel("New group name").FillAsync("lab");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Create group" }).ClickAsync();
        await admin.GetByLabel("User to add to lab").FillAsync("nobody-such");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Add to lab" }).ClickAsync();
        await Assertions.Expect(admin.GetByText("User: there is no account called 'nobody-such'.")).ToBeVisibleAsync();
        await admin.GetByLabel("User to add to lab").FillAsync(PaddockFixture.Gina);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Add to lab" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Groups" })).ToContainTextAsync(PaddockFixture.Gina);

        await admin.GotoAsync("/templates");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Edit lab-base" }).ClickAsync();
        var edit = admin.GetByRole(AriaRole.Dialog);
        await edit.GetByLabel("Shared with").ClickAsync();
        await admin.GetByRole(AriaRole.Option, new() { Name = "A group" }).ClickAsync();
        // One list open at a time: the group's list only once the first one has closed.
        await Assertions.Expect(admin.GetByRole(AriaRole.Option, new() { Name = "A group" })).ToHaveCountAsync(0);
        await edit.GetByLabel("Group", new() { Exact = true }).ClickAsync();
        await admin.GetByRole(AriaRole.Option, new() { Name = "lab", Exact = true }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Option, new() { Name = "lab", Exact = true })).ToHaveCountAsync(0);
        // Both choices shown in their fields before Save: a Save pressed while a choice was still on
        // its way left the template unshared now and then.
        await Assertions.Expect(edit.GetByLabel("Shared with")).ToContainTextAsync("A group");
        await Assertions.Expect(edit.GetByLabel("Group", new() { Exact = true })).ToContainTextAsync("lab");
        await edit.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        // A refusal would keep the dialog open with its reason: this says which.
        await Assertions.Expect(admin.GetByRole(AriaRole.Dialog)).ToHaveCountAsync(0);
        await Assertions.Expect(admin.GetByRole(AriaRole.Table, new() { Name = "Templates" })).ToContainTextAsync("Group lab");

        var gina = await paddock.SignInAsync(PaddockFixture.Gina);
        await gina.GotoAsync("/templates");
        await Assertions.Expect(gina.GetByRole(AriaRole.Table, new() { Name = "Templates" })).ToContainTextAsync("lab-base");
        Assert.Equal(404, (await bob.APIRequest.GetAsync($"/api/templates/{templateId}")).Status);
        await bob.GotoAsync("/templates");
        await Assertions.Expect(bob.GetByRole(AriaRole.Table, new() { Name = "Templates" })).Not.ToContainTextAsync("lab-base");

        // Members neither publish nor delete what is not theirs.
        var publish = await gina.APIRequest.PutAsync($"/api/templates/{templateId}/visibility",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { visibility = "Everyone" } });
        Assert.Equal(409, publish.Status);
        Assert.Contains("Only admins publish templates.", await publish.TextAsync());

        // Gina's linked clone keeps the template: Judy's refusal counts it without naming it.
        var cloneResponse = await gina.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "from-lab", vcpus = 1, memoryMiB = 128, templateId } });
        Assert.Equal(201, cloneResponse.Status);
        var cloneId = (await cloneResponse.JsonAsync())!.Value.GetProperty("id").GetGuid();
        var refused = await judy.APIRequest.DeleteAsync($"/api/templates/{templateId}", new() { Headers = PaddockFixture.ApiHeaders });
        Assert.Equal(409, refused.Status);
        var refusal = await refused.TextAsync();
        Assert.Contains("has 1 linked clone (1 of other users)", refusal);
        Assert.DoesNotContain("from-lab", refusal);
        Assert.Equal(409, (await gina.APIRequest.DeleteAsync($"/api/templates/{templateId}", new() { Headers = PaddockFixture.ApiHeaders })).Status);

        await PaddockFixture.RunningAndIdleAsync(gina, cloneId);
        Assert.Equal(202, (await gina.APIRequest.PostAsync($"/api/vms/{cloneId}/poweroff", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(gina, cloneId) == "Stopped", TimeSpan.FromSeconds(60), "the clone to stop");
        Assert.Equal(202, (await gina.APIRequest.PostAsync($"/api/vms/{cloneId}/delete", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(async () => (await gina.APIRequest.GetAsync($"/api/vms/{cloneId}")).Status == 404, TimeSpan.FromSeconds(60), "the clone to go");
        Assert.Equal(204, (await judy.APIRequest.DeleteAsync($"/api/templates/{templateId}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
        await Eventually.Async(
            async () => (await judy.APIRequest.GetAsync($"/api/templates/{templateId}")).Status == 404,
            TimeSpan.FromSeconds(60), "the template to go");

        foreach (var page in new[] { judy, bob, admin, gina })
        {
            await page.Context.CloseAsync();
        }
    }

    private static async Task<JsonElement> TemplateAsync(IPage page, string name)
    {
        var all = (await (await page.APIRequest.GetAsync("/api/templates")).JsonAsync())!.Value;
        return all.EnumerateArray().Single(t => t.GetProperty("name").GetString() == name);
    }

    /// <summary>A problem response without its per-request trace id.</summary>
    private static string Problem(string json)
    {
        var root = JsonDocument.Parse(json).RootElement;
        return $"{root.GetProperty("status")} {root.GetProperty("title")}";
    }


    [GeneratedRegex(@"Uid:\s+(\d+)")]
    private static partial Regex UidLine();
}
