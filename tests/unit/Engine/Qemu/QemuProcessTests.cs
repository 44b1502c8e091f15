using Paddock.Engine.Qemu;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Qemu;

/// <summary>The pure parts of supervision; the real spawn is checked against QEMU by the e2e tests.</summary>
public sealed class QemuProcessTests : IDisposable
{
    private static readonly Guid VmId = Guid.Parse("0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f");
    private readonly string _dir = Path.Join(Path.GetTempPath(), $"paddock-qp-{Guid.NewGuid():N}");

    [Fact]
    public void Launcher_runs_qemu_in_its_own_session_as_the_vm_uid_with_output_to_files()
    {
        var paths = new VmPaths("/run/vm");

        var argv = QemuProcess.LauncherArgv(["/usr/bin/qemu-system-x86_64", "-name", $"guest={VmId}"], paths, 200_001, 200_002, QemuProcessOptions.Default);

        Assert.Equal(
        [
            "/usr/bin/setsid", "--",
            "/usr/bin/setpriv", "--reuid", "200001", "--regid", "200002", "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            "/bin/sh", "-c", "umask 077 && exec </dev/null >>\"$1\" 2>>\"$2\" && shift 2 && exec \"$@\"", "paddock-qemu",
            "/run/vm/qemu.stdout", "/run/vm/qemu.stderr",
            "/usr/bin/qemu-system-x86_64", "-name", $"guest={VmId}",
        ], argv);
    }

    [Fact]
    public void Launcher_keeps_supplementary_groups_when_asked_for_kvm_access()
    {
        var options = QemuProcessOptions.Default with { SupplementaryGroups = [993, 994] };

        var argv = QemuProcess.LauncherArgv(["/usr/bin/qemu-system-x86_64"], new VmPaths("/run/vm"), 200_001, 200_001, options);

        Assert.Contains("993,994", argv);
        Assert.DoesNotContain("--clear-groups", argv);
    }

    [Fact]
    public void Where_selinux_enforces_qemu_transitions_to_the_vms_context_still_under_no_new_privs_and_without_capabilities()
    {
        var options = QemuProcessOptions.Default with { SelinuxLabel = "system_u:system_r:svirt_t:s0:c3,c7" };

        var argv = QemuProcess.LauncherArgv(["/usr/bin/qemu-system-x86_64"], new VmPaths("/run/vm"), 200_001, 200_001, options);

        Assert.Equal(
            ["--clear-groups", "--selinux-label", "system_u:system_r:svirt_t:s0:c3,c7", "--inh-caps=-all", "--ambient-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--", "/bin/sh"],
            argv.Skip(7).Take(9));
    }

    [Fact]
    public void An_agent_that_cannot_change_ids_starts_qemu_as_itself_but_still_under_no_new_privs_and_without_capabilities()
    {
        var argv = QemuProcess.LauncherArgv(["/usr/bin/qemu-system-x86_64"], new VmPaths("/run/vm"), 200_001, 200_001,
            QemuProcessOptions.Default with { ChangeIds = false });

        Assert.Equal(
            ["/usr/bin/setsid", "--", "/usr/bin/setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
                "/bin/sh", "-c"],
            argv.Take(10));
        Assert.DoesNotContain("--reuid", argv);
    }

    [Fact]
    public void Arguments_with_shell_metacharacters_stay_out_of_the_script()
    {
        string[] qemu = ["/usr/bin/qemu-system-x86_64", "-name", $"guest={VmId}", "$(reboot)", "`id`; rm -rf /"];

        var argv = QemuProcess.LauncherArgv(qemu, new VmPaths("/run/x'y"), 200_001, 200_001, QemuProcessOptions.Default);

        Assert.Equal(qemu, argv.TakeLast(qemu.Length));
        Assert.Equal(QemuProcess.LaunchScript, argv[argv.ToList().IndexOf("-c") + 1]);
    }

    [Theory]
    [InlineData(true, "/usr/bin/qemu-system-x86_64", "-name", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f")]
    [InlineData(true, "qemu-system-aarch64", "-name", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f,debug-threads=on")]
    [InlineData(false, "/usr/bin/qemu-system-x86_64", "-name", "guest=11111111-7d1a-4c2b-9e8f-1a2b3c4d5e6f")]
    [InlineData(false, "/usr/bin/qemu-system-x86_64", "-name", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f-x")]
    [InlineData(false, "/usr/bin/python3", "-name", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f")]
    [InlineData(false, "/usr/bin/qemu-system-x86_64", "-other", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f")]
    [InlineData(false, "/usr/bin/qemu-system-x86_64", "-name")]
    public void Attach_recognises_only_qemu_for_this_vm(bool expected, params string[] cmdline)
    {
        Assert.Equal(expected, QemuProcess.IsQemuFor(cmdline, VmId));
    }

    [Fact]
    public void Stat_state_and_start_time_are_read_after_the_last_parenthesis()
    {
        const string line = "4242 (qemu) sys (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 7 0 123456 1000000 500 18446744073709551615";

        var stat = ProcStat.Parse(line);

        Assert.Equal(new ProcStat('S', 123456), stat);
        Assert.False(stat!.IsDead);
    }

    [Theory]
    [InlineData('Z', true)]
    [InlineData('X', true)]
    [InlineData('R', false)]
    [InlineData('S', false)]
    [InlineData('D', false)]
    [InlineData('T', false)]
    public void Zombies_count_as_dead(char state, bool dead)
    {
        Assert.Equal(dead, new ProcStat(state, 1).IsDead);
    }

    [Fact]
    public void Our_own_process_is_alive_and_a_missing_pid_is_not()
    {
        if (!OperatingSystem.IsLinux())
            return;
        Assert.True(QemuProcess.IsAlive(Environment.ProcessId));
        Assert.False(QemuProcess.IsAlive(int.MaxValue));
        Assert.False(QemuProcess.IsAlive(0));
    }

    [Fact]
    public void Attach_without_a_pidfile_finds_nothing()
    {
        Directory.CreateDirectory(_dir);

        Assert.Null(QemuProcess.Attach(VmId, new VmPaths(_dir)));
    }

    [Fact]
    public void Attach_to_a_pid_that_is_not_qemu_finds_nothing()
    {
        Directory.CreateDirectory(_dir);
        var paths = new VmPaths(_dir);
        Directory.CreateDirectory(paths.QemuDirectory);
        File.WriteAllText(paths.PidFile, $"{Environment.ProcessId}\n");

        Assert.Null(QemuProcess.Attach(VmId, paths));
    }

    [Fact]
    public void Stderr_tail_gives_the_last_lines()
    {
        Directory.CreateDirectory(_dir);
        var paths = new VmPaths(_dir);
        File.WriteAllText(paths.Stderr, string.Join("\n", Enumerable.Range(1, 50).Select(i => $"line {i}")) + "\n");

        Assert.Equal(["line 48", "line 49", "line 50"], QemuProcess.ReadStderrTail(paths, 3));
        Assert.Empty(QemuProcess.ReadStderrTail(new VmPaths(Path.Join(_dir, "missing"))));
    }

    [Fact]
    public void Stderr_tail_of_this_run_skips_earlier_runs()
    {
        Directory.CreateDirectory(_dir);
        var paths = new VmPaths(_dir);
        File.WriteAllText(paths.Stderr, "old run\r\n");
        var offset = new FileInfo(paths.Stderr).Length;
        File.AppendAllText(paths.Stderr, "new run\r\n");

        Assert.Equal(["new run"], QemuProcess.ReadStderrTail(paths, 20, offset));
    }

    [Fact]
    public void Stderr_tail_does_not_follow_a_symlink_planted_by_the_vm()
    {
        if (!OperatingSystem.IsLinux())
            return;
        Directory.CreateDirectory(_dir);
        var paths = new VmPaths(_dir);
        var secret = Path.Join(_dir, "host-secret");
        File.WriteAllText(secret, "root:$6$hash\n");
        File.CreateSymbolicLink(paths.Stderr, secret);

        Assert.Empty(QemuProcess.ReadStderrTail(paths));
    }

    [Fact]
    public async Task Start_refuses_argv_for_another_vm()
    {
        if (!OperatingSystem.IsLinux())
            return;

        await Assert.ThrowsAsync<ArgumentException>(() =>
            QemuProcess.StartAsync(Guid.NewGuid(), ["/usr/bin/qemu-system-x86_64", "-name", $"guest={VmId}"], new VmPaths(_dir), 200_000, 200_000));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }
}
