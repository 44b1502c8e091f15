using System.Text.RegularExpressions;

namespace Paddock.E2e;

/// <summary>The e2e agent caps serial logs at 256 KiB and checks them every second (<see cref="PaddockFixture.StartAgent"/>).</summary>
[Collection(PaddockCollection.Name)]
public sealed partial class SerialLogTests(PaddockFixture paddock)
{
    private const long Cap = 256 * 1024;

    [Fact]
    public async Task A_guest_printing_a_lot_leaves_at_most_twice_the_cap_and_the_download_says_it_starts_mid_way()
    {
        var page = await paddock.SignInAsync(PaddockFixture.Otto);
        var vmId = await PaddockFixture.CreateVmAsync(page, "flood-vm");
        var runDir = Path.Combine(paddock.VmsDir, vmId.ToString());
        var (live, previous) = (Path.Combine(runDir, "serial.log"), Path.Combine(runDir, "serial.log.1"));
        await PaddockFixture.ExpectStatusAsync(page, "Running");
        await GuestSerial.WaitForShellAsync(runDir);

        // About 590 KB in the log (the tty makes each "x\n" "x\r\n"): over twice the cap.
        await StartFloodAsync(runDir);
        try
        {
            await Eventually.Async(
                () => (GuestSerial.Read(previous) + GuestSerial.Read(live)).Contains("flood-done"),
                TimeSpan.FromSeconds(120), "the guest's flood to end");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} {Describe(runDir)}", e);
        }

        // The keeper comes round once a second: then neither part is over the cap.
        await Eventually.Async(() => File.Exists(previous) && new FileInfo(live).Length <= Cap, TimeSpan.FromSeconds(30), "the log rotated");

        var kept = new FileInfo(previous).Length + new FileInfo(live).Length;
        Assert.True(new FileInfo(previous).Length <= Cap && kept <= 2 * Cap, $"{kept} bytes kept, at most {2 * Cap}");

        var response = await page.APIRequest.GetAsync($"/api/vms/{vmId}/serial-log");
        Assert.Equal(200, response.Status);
        var download = await response.TextAsync();
        Assert.Matches(Notice(), download);
        Assert.True(download.Length <= 2 * Cap + 200, $"{download.Length} bytes downloaded");
        // The newest output is the download's end: nothing of the flood after it.
        var end = download[download.LastIndexOf("flood-done", StringComparison.Ordinal)..];
        Assert.DoesNotContain("x\r\n", end);
        Assert.Contains("x\r\nx\r\n", download);
    }

    /// <summary>
    /// Types the flood and reads the serial socket until it has begun. A line typed while the
    /// guest was not reading its port can be lost; it is typed again (its Ctrl-C ends a flood begun).
    /// </summary>
    private static async Task StartFloodAsync(string runDir)
    {
        const string Line = "echo flood-\"start\"; yes x | head -c 393216; echo flood-\"done\"";
        var seen = "";
        for (var attempt = 0; attempt < 3; attempt++)
        {
            seen = await GuestSerial.RunAsync(runDir, Line, until: "flood-start", within: TimeSpan.FromSeconds(10));
            if (seen.Contains("flood-start", StringComparison.Ordinal))
                return;
        }

        throw new TimeoutException($"The guest never began the flood; its port said: {seen[^Math.Min(seen.Length, 500)..]}");
    }

    /// <summary>What the logs hold, for a failure's message.</summary>
    private static string Describe(string runDir)
    {
        var live = GuestSerial.Read(Path.Combine(runDir, "serial.log"));
        var previous = GuestSerial.Read(Path.Combine(runDir, "serial.log.1"));
        var dropped = GuestSerial.Read(Path.Combine(runDir, "serial.log.dropped"));
        return $"serial.log: {live.Length} chars, serial.log.1: {previous.Length} chars, dropped: '{dropped}'; " +
            $"the live log ends: {live[^Math.Min(live.Length, 400)..]}";
    }

    [GeneratedRegex(@"^\[paddock: this log starts mid-way; [0-9.]+ (MiB|KiB|bytes) of earlier output was dropped\]\n")]
    private static partial Regex Notice();
}
