using System.Net;
using System.Net.Http.Headers;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>A host fetches only the images its VMs need, and on the host a VM's uid reads only the images its VMs use.</summary>
[Collection(PaddockCollection.Name)]
public sealed class ImageAccessTests(PaddockFixture paddock)
{
    [Fact]
    public async Task A_host_fetches_only_what_its_vms_need_and_a_vm_uid_reads_only_its_own_images()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Tess);
        var mine = await FileOfAsync(page, await paddock.UploadIsoAsync(page, "sams-cd"));
        var other = await FileOfAsync(page, await paddock.UploadIsoAsync(page, "sams-other-cd"));
        var unused = await FileOfAsync(page, await paddock.UploadIsoAsync(page, "sams-unused-cd"));
        var a = await CreateStoppedAsync(page, "tess-a");
        var b = await CreateStoppedAsync(page, "tess-b");
        try
        {
            Assert.Equal("e2e-host", await paddock.HostNameOfAsync(a.Id));
            Assert.Equal("e2e-host", await paddock.HostNameOfAsync(b.Id));
            await ChangeCdAsync(page, a.Id, mine.Id, "sams-cd");
            await ChangeCdAsync(page, b.Id, other.Id, "sams-other-cd");

            // The portal hands this host what its VMs need, and nothing else: "not found", as a missing image.
            var credential = (await File.ReadAllTextAsync(Path.Combine(paddock.DataDir, "agent", "credential"))).Trim();
            using var http = paddock.NewHttpClient();
            Assert.Equal(HttpStatusCode.OK, await FetchAsync(http, credential, mine.File));
            Assert.Equal(HttpStatusCode.NotFound, await FetchAsync(http, credential, unused.File));
            Assert.False(File.Exists(Path.Combine(paddock.ImagesDir, unused.File)));

            // On the host: A's uid reads its CD and its base (the built-in template's, for everyone), not B's CD.
            var uidA = await OwnerOfAsync(a.Id);
            var uidB = await OwnerOfAsync(b.Id);
            Assert.NotEqual(uidA, uidB);
            Assert.True(await ReadsAsync(uidA, mine.File), $"uid {uidA} cannot read its own CD");
            Assert.True(await ReadsAsync(uidA, "builtin-busybox.qcow2"), $"uid {uidA} cannot read its base");
            Assert.False(await ReadsAsync(uidA, other.File), $"uid {uidA} reads the CD of another VM");
            Assert.True(await ReadsAsync(uidB, other.File), $"uid {uidB} cannot read its own CD");
            Assert.False(await ReadsAsync(uidB, mine.File), $"uid {uidB} reads the CD of another VM");

            // Ejected, A's CD is no longer A's uid's to read.
            await ChangeCdAsync(page, a.Id, null, null);
            Assert.False(await ReadsAsync(uidA, mine.File), $"uid {uidA} still reads the CD it ejected");

            // Deleted, B leaves its uid (which another VM may get next) nothing to read.
            await DeleteAsync(page, b.Id);
            Assert.False(await ReadsAsync(uidB, other.File), $"uid {uidB} still reads the CD of its deleted VM");
        }
        finally
        {
            await DeleteAsync(page, a.Id);
            await DeleteAsync(page, b.Id);
            await page.Context.CloseAsync();
        }
    }

    private static async Task DeleteAsync(IPage page, Guid vmId)
    {
        await page.APIRequest.PostAsync($"/api/vms/{vmId}/delete", new() { Headers = PaddockFixture.ApiHeaders });
        await Eventually.Async(
            async () => (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).Status == 404,
            TimeSpan.FromSeconds(60), $"{vmId} to be deleted");
    }

    private static async Task<(Guid Id, string File)> FileOfAsync(IPage page, Guid imageId)
    {
        var image = (await (await page.APIRequest.GetAsync($"/api/images/{imageId}")).JsonAsync())!.Value;
        return (imageId, $"{image.GetProperty("sha256").GetString()}.iso");
    }

    private static async Task<(Guid Id, string Name)> CreateStoppedAsync(IPage page, string name)
    {
        var created = await page.APIRequest.PostAsync("/api/vms",
            new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name, vCpus = 1, memoryMiB = 128, start = false } });
        Assert.True(created.Status == 201, await created.TextAsync());
        var id = (await created.JsonAsync())!.Value.GetProperty("id").GetGuid();
        await Eventually.Async(async () => await PaddockFixture.IdleStatusAsync(page, id) == "Stopped", PaddockFixture.Boot, $"{name} to be created");
        return (id, name);
    }

    private static async Task ChangeCdAsync(IPage page, Guid vmId, Guid? imageId, string? name)
    {
        var changed = await page.APIRequest.PutAsync($"/api/vms/{vmId}/cdrom", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { imageId } });
        Assert.True(changed.Ok, await changed.TextAsync());
        await Eventually.Async(async () =>
        {
            var vm = (await (await page.APIRequest.GetAsync($"/api/vms/{vmId}")).JsonAsync())!.Value;
            return vm.GetProperty("pendingOperation").ValueKind == System.Text.Json.JsonValueKind.Null
                && vm.GetProperty("cdrom").GetString() == name;
        }, TimeSpan.FromSeconds(60), $"the CD of {vmId} to be {name ?? "ejected"}");
    }

    private static async Task<HttpStatusCode> FetchAsync(HttpClient http, string credential, string file)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/agent/images/{file}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return response.StatusCode;
    }

    /// <summary>The uid that owns the VM's run directory: the VM's own.</summary>
    private async Task<string> OwnerOfAsync(Guid vmId) =>
        await PaddockFixture.RunAsync("stat", "-c", "%u", Path.Combine(paddock.VmsDir, vmId.ToString(), "qemu"));

    /// <summary>Whether <paramref name="uid"/> (with its own gid and no other groups, as a VM's QEMU) can read the image in the host's store.</summary>
    private async Task<bool> ReadsAsync(string uid, string file)
    {
        var start = new System.Diagnostics.ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])["--reuid", uid, "--regid", uid, "--clear-groups", "head", "-c", "1", "--", Path.Combine(paddock.ImagesDir, file)])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await PaddockFixture.EndedWithinAsync(process, TimeSpan.FromMinutes(5), "head as the VM's uid");
        await output;
        var failure = await error;
        Assert.True(process.ExitCode == 0 || failure.Contains("Permission denied"), $"reading {file} as {uid} failed otherwise: {failure}");
        return process.ExitCode == 0;
    }
}
