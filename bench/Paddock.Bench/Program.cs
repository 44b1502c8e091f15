// What a person waits for, beside what QEMU alone needs for the same thing:
//   ./paddock bench [RUNS] [--warmup W]     (RUNS default 20, W default 1; figures only, no asserts)
// (1) create -> running: POST /api/vms until the API says Running (and the same span from the
//     VM's events), beside qemu-img create + the agent's QEMU argv run bare until QMP says running.
// (2) console connect -> first non-black frame in Chromium: noVNC through the portal's console
//     page, beside noVNC straight to QEMU's own websocket VNC listener.
// Starts its own portal and host agent against the instance './paddock bench' prepared.
//   ./paddock bench placement               placement decisions over 10,000 simulated hosts (no QEMU, no database)
//   ./paddock bench migrate [RUNS]          live migration of a 256 MiB guest: bare QMP, the engine's recipe, and through Paddock
//                                           (API, two host agents, the portal's relay) (RUNS default 3)
//   ./paddock bench faults [VMS] [KILLS] [OUTAGES] [DOWN_SECONDS]
//                                           issue #20's fault suite, larger: the portal killed, PostgreSQL stopped, under a
//                                           workload; the summary table with recovery times (defaults 4 VMs, 10, 4, 10 s)
//   ./paddock bench net [RUNS] [MIB]        VM-to-VM throughput (MIB MiB by nc) and ping round trip on a tenant network, on one
//                                           host and across VXLAN, beside a plain bridge (RUNS default 5, MIB default 32)
//   ./paddock bench scale [HOSTS...] [--vms N] [--pages N]
//                                           hollow hosts (no QEMU) joining in steps (default 100 500), N creates per step
//                                           (default 500) through two portal processes: admission, latency, pages, memory,
//                                           and the delay of a change to N open pages of My VMs (default 200; 0: none)
//   ./paddock bench reattach [VMS]          VMS running VMs (default 20) across an agent kill -9, plain and with one QEMU frozen:
//                                           time to re-attach and to register again, every QEMU alive
using Paddock.Bench;

if (args is ["placement", ..])
{
    PlacementDecisions.Run();
    return 0;
}

if (args is ["migrate", .. var migrateArgs])
{
    return await MigrationBench.RunAsync(migrateArgs);
}

if (args is ["reattach", .. var reattachArgs])
{
    return await ReattachBench.RunAsync(reattachArgs);
}

if (args is ["scale", .. var scaleArgs])
{
    return await ScaleBench.RunAsync(scaleArgs);
}

if (args is ["faults", .. var faultArgs])
{
    return await FaultBench.RunAsync(faultArgs);
}

if (args is ["net", .. var netArgs])
{
    return await NetworkBench.RunAsync(netArgs);
}

var runs = 20;
var warmups = 1;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--warmup" && i + 1 < args.Length)
    {
        warmups = int.Parse(args[++i]);
    }
    else if (int.TryParse(args[i].Replace("--runs=", "", StringComparison.Ordinal), out var n) && n > 0)
    {
        runs = n;
    }
    else
    {
        Console.Error.WriteLine("usage: ./paddock bench [RUNS] [--warmup W]");
        return 2;
    }
}

if (!OperatingSystem.IsLinux())
{
    Console.Error.WriteLine("The benchmark runs QEMU and reads /proc: Linux only.");
    return 2;
}

// Bounded whatever happens: every wait inside has its own deadline too.
using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5 + runs + warmups));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
var ct = cancel.Token;

await using var instance = await Instance.StartAsync(ct);
Console.WriteLine($"portal {instance.PortalUrl}, logs {instance.LogPath("*")}; {runs} runs after {warmups} warm-up run(s) not counted");
// Other work on the machine (a test run, a build) moves these figures: say how busy it was.
var loadAtStart = LoadAverage();
using var api = await PortalApi.SignInAsync(instance.PortalUrl, Instance.User, instance.Password, instance.CertificateSha256, ct);

var (create, command) = await CreateToRunning.RunAsync(instance, api, runs, warmups, ct);
var console = await ConsoleFirstFrame.RunAsync(instance, api, command, runs, warmups, ct);

Console.WriteLine();
Console.WriteLine($"{Environment.ProcessorCount} CPUs; load average (1/5/15 min) at start {loadAtStart}, at end {LoadAverage()}");
Table.Header($"create -> running (n={runs})");
Table.Row("portal (API poll, POST to GET says Running)", create.ApiPoll);
Table.Row("portal (events: vm_created -> Running)", create.EventStream);
Table.Row("bare qemu-img + qemu to QMP running", create.Bare);
Table.PairedRatio("ratio portal API / bare (pairs' median)", create.ApiPoll, create.Bare);
Table.PairedRatio("ratio portal events / bare (pairs' median)", create.EventStream, create.Bare);
Console.WriteLine();
Table.Header($"console connect -> first non-black frame (n={runs})");
Table.Row("portal console page (relay, unix VNC)", console.Portal.Samples);
Table.Row("noVNC straight to QEMU websocket", console.Bare.Samples);
Table.PairedRatio("ratio portal / bare (pairs' median)", console.Portal.Samples, console.Bare.Samples);
Console.WriteLine();
Table.Header("console phases (medians)");
foreach (var (side, series) in new[] { ("portal", console.Portal), ("bare", console.Bare) })
{
    Table.Row($"{side}: connect -> socket open", series.ToOpen);
    Table.Row($"{side}: socket open -> server's greeting", series.ToGreeting);
    Table.Row($"{side}: greeting -> first frame", series.ToFrame);
}
foreach (var (side, stuck) in console.Portal.Stuck.Select(s => ("portal", s)).Concat(console.Bare.Stuck.Select(s => ("bare", s))))
{
    Console.WriteLine($"  retried, not counted ({side}): {stuck}");
}
Console.WriteLine();
Console.WriteLine("samples (ms):");
Table.Samples("create, portal API", create.ApiPoll);
Table.Samples("create, portal events", create.EventStream);
Table.Samples("create, bare", create.Bare);
Table.Samples("console, portal", console.Portal.Samples);
Table.Samples("console, bare", console.Bare.Samples);
Console.WriteLine();
Console.WriteLine("""
    what each row times:
      portal API     client stopwatch: POST /api/vms sent -> first GET /api/vms/{id} (every ~10 ms) saying Running
      portal events  vm_created.At (portal, when it decided) -> first vm_status_observed Running .At (agent, QMP said running)
      bare           qemu-img create overlay -> QEMU spawned as root, no setsid/setpriv/sh -> QMP accepts (retried every ~1 ms)
                     -> qmp_capabilities -> query-status "running" (no -S, so running once QMP answers)
      console        performance.now() at new RFB(...) -> first animation frame (~16 ms apart) whose noVNC canvas has a
                     pixel with RGB != 0 (whole canvas read); page reloaded per run, guest banner printed before; the two
                     pages stay open and take turns (portal, bare, bare, portal, ...); a ratio is the median of the
                     pairs' ratios, with the middle half of them as its spread
      phases         the console's WebSocket open event, and its first message (the VNC server's "RFB 003.008")
    """);
Console.WriteLine($"bare QEMU argv (run directory replaced per run): {string.Join(' ', command.Argv)}");
return 0;

static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]);
