using Paddock.Engine.Hosting;
using Paddock.Engine.Qemu;
using Paddock.Engine.Vms;

internal static class Outlive
{
    private const string RunRoot = "/tmp/paddock-outlive";
    private const int Uid = 200_002;

    public static async Task<int> RunAsync(string[] args)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var ct = timeout.Token;
        if (args[0] == "outlive")
        {
            var spec = new VmSpec(Guid.NewGuid(), 1, 1, 64, VmSpec.DefaultMachineType, Uid, [new DiskSpec("root", 1 << 20, null)], []);
            var paths = RunDirectory.Create(VmPaths.For(RunRoot, spec.Id), Uid, Uid);
            await new Paddock.Engine.Images.DiskImages().CreateBlankAsync(paths.Disk("root"), 1 << 20, ct);
            RunDirectory.SecureFile(paths.Disk("root"), Uid, Uid);
            var argv = QemuCommandLine.Build(spec, paths, Accelerators.Detect().Accelerator, new QemuLaunchOptions { StartPaused = true });
            var qemu = await QemuProcess.StartAsync(spec.Id, argv, paths, Uid, Uid, ct: ct);
            Console.WriteLine($"{spec.Id} {qemu.Pid}");
            return 0;
        }

        var id = Guid.Parse(args[1]);
        var vm = VmPaths.For(RunRoot, id);
        Console.WriteLine($"attach for another VM id: {QemuProcess.Attach(Guid.NewGuid(), vm)?.Pid.ToString() ?? "none"}");
        Console.WriteLine($"attach with the wrong uid: {QemuProcess.Attach(id, vm, Uid + 1)?.Pid.ToString() ?? "none"}");
        var attached = QemuProcess.Attach(id, vm, Uid) ?? throw new InvalidOperationException("not found");
        Console.WriteLine($"re-attached pid {attached.Pid}, running {attached.IsRunning}, ppid {File.ReadAllText($"/proc/{attached.Pid}/stat").Split(") ")[1].Split(' ')[1]}");
        await using (var qmp = await attached.ConnectQmpAsync(ct))
        {
            Console.WriteLine($"query-status: {await qmp.ExecuteAsync("query-status", ct: ct)}");
            await qmp.ExecuteAsync("quit", ct: ct);
            await qmp.Completion.WaitAsync(TimeSpan.FromSeconds(10), ct);
            Console.WriteLine("QMP end of file after quit");
        }
        var exited = await attached.WaitForExitAsync(TimeSpan.FromSeconds(10), ct);
        var state = File.Exists($"/proc/{attached.Pid}/stat") ? File.ReadAllText($"/proc/{attached.Pid}/stat").Split(") ")[1][0].ToString() : "gone";
        Console.WriteLine($"exited {exited}, /proc state {state}, IsAlive {QemuProcess.IsAlive(attached.Pid)}, attach again: {QemuProcess.Attach(id, vm)?.Pid.ToString() ?? "none"}");
        RunDirectory.Delete(vm);
        return exited ? 0 : 1;
    }
}
