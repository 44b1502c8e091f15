using System.Diagnostics;
using System.Text.Json;

namespace Paddock.E2e;

/// <summary>
/// The command-line client, as a person runs it: a profile with a token and the portal's
/// certificate pin, then a VM's whole story, an upload with its progress bar, a request and the
/// tasks, with table and JSON output; a refusal exits 1 with the portal's problem, a wrong command
/// line exits 2.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class CliTests(PaddockFixture paddock)
{
    private readonly string _config = Path.Combine(Path.GetTempPath(), $"paddock-cli-{Guid.NewGuid():N}", "config.json");

    [Fact]
    public async Task A_vms_story_an_upload_and_a_request_run_through_the_cli_and_its_exit_codes_say_how_each_ended()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Clio);
        var made = await page.APIRequest.PostAsync("/api/tokens", new() { Headers = PaddockFixture.ApiHeaders, DataObject = new { name = "cli", days = 1 } });
        Assert.True(made.Status == 201, await made.TextAsync());
        var token = (await made.JsonAsync())!.Value.GetProperty("token").GetString()!;

        Assert.Equal(2, (await CliAsync("vm", "list")).Code);
        await OkAsync("profile", "add", "ci", "--url", paddock.PortalUrl, "--token", token, "--fingerprint", paddock.CertificateSha256);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_config));

        // The story: create (stopped, and wait), snapshot, revert, start, console URL, power off, delete.
        var created = JsonDocument.Parse(await OkAsync("-o", "json", "vm", "create", "--name", "clio-vm", "--memory", "192", "--stopped", "--wait")).RootElement;
        var id = created.GetProperty("id").GetGuid();
        Assert.Equal("Stopped", created.GetProperty("status").GetString());
        await OkAsync("vm", "snapshot", "take", "clio-vm", "s1", "--wait");
        Assert.Contains("s1", await OkAsync("vm", "snapshot", "list", "clio-vm"));
        await OkAsync("vm", "snapshot", "revert", "clio-vm", "s1", "--wait");
        await OkAsync("vm", "start", id.ToString(), "--wait");
        var refused = await CliAsync("vm", "start", "clio-vm");
        Assert.True(refused.Code == 1, refused.Error);
        Assert.StartsWith("409: Start needs the VM Stopped or Crashed", refused.Error);
        Assert.Equal($"{paddock.PortalUrl}/vms/{id}/console", (await OkAsync("vm", "console", "clio-vm")).Trim());
        var tasks = await OkAsync("task", "list", "clio-vm");
        Assert.Contains("Revert to snapshot", tasks);
        Assert.Contains("Succeeded", tasks);
        Assert.StartsWith("409: Delete needs the VM Stopped", (await CliAsync("vm", "delete", "clio-vm")).Error);
        await OkAsync("vm", "poweroff", "clio-vm", "--wait");
        await OkAsync("vm", "delete", "clio-vm", "--wait");
        Assert.Equal(404, (await page.APIRequest.GetAsync($"/api/vms/{id}")).Status);

        // An upload shows its progress; a request waits for an admin.
        var iso = Path.Combine(Path.GetDirectoryName(_config)!, "clio.iso");
        await File.WriteAllBytesAsync(iso, [.. await File.ReadAllBytesAsync(Path.Combine(paddock.ImagesDir, "builtin-busybox.iso")), .. System.Security.Cryptography.RandomNumberGenerator.GetBytes(4096)]);
        var upload = await CliAsync("image", "upload", iso, "--name", "clio-iso", "--kind", "iso");
        Assert.True(upload.Code == 0, upload.Error);
        Assert.Contains("100%", upload.Error);
        Assert.Contains("clio-iso", await OkAsync("image", "list"));
        var asked = JsonDocument.Parse(await OkAsync("-o", "json", "request", "create", "--name", "clio-big", "--memory", "65536", "--justification", "load test")).RootElement;
        Assert.Contains("Pending", await OkAsync("request", "show", asked.GetProperty("id").GetString()!));

        // Bad input from the portal exits 1 naming the field; a wrong command line exits 2.
        var bad = await CliAsync("vm", "create", "--name", "", "--memory", "192");
        Assert.True(bad.Code == 1, bad.Error);
        Assert.Contains("name: Name: required.", bad.Error);
        Assert.Equal(2, (await CliAsync("vm", "frobnicate")).Code);
        Assert.Equal(2, (await CliAsync("task", "wait", "https://elsewhere.example/")).Code);
        await page.Context.CloseAsync();
        Directory.Delete(Path.GetDirectoryName(_config)!, recursive: true);
    }

    private async Task<string> OkAsync(params string[] args)
    {
        var (code, output, error) = await CliAsync(args);
        Assert.True(code == 0, $"paddock {string.Join(' ', args)}: exit {code}: {error}");
        return output;
    }

    /// <summary>Runs the built client with this test's profiles file; its exit code and both outputs.</summary>
    private async Task<(int Code, string Output, string Error)> CliAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Environment.GetEnvironmentVariable("PADDOCK_TEST_CLI_DLL") ?? throw new InvalidOperationException("PADDOCK_TEST_CLI_DLL is not set: run the tests with ./paddock test."));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["PADDOCK_CONFIG"] = _config;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await PaddockFixture.EndedWithinAsync(process, TimeSpan.FromMinutes(5), "paddock " + string.Join(' ', args));
        return (process.ExitCode, await output, await error);
    }
}
