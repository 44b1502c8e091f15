using Paddock.Engine.Hosting;
using Paddock.Engine.Qemu;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Qemu;

/// <summary>Golden argv for representative specs (the idea of libvirt's qemuxml2argvtest).</summary>
public sealed class QemuCommandLineTests
{
    private static readonly Guid VmId = Guid.Parse("0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f");

    private static readonly string[] RootPorts =
    [
        "-device", "pcie-root-port,id=rp0,bus=pcie.0,addr=0x2.0x0,multifunction=on,port=0x10,chassis=1,slot=1",
        "-device", "pcie-root-port,id=rp1,bus=pcie.0,addr=0x2.0x1,port=0x11,chassis=2,slot=2",
        "-device", "pcie-root-port,id=rp2,bus=pcie.0,addr=0x2.0x2,port=0x12,chassis=3,slot=3",
        "-device", "pcie-root-port,id=rp3,bus=pcie.0,addr=0x2.0x3,port=0x13,chassis=4,slot=4",
        "-device", "pcie-root-port,id=rp4,bus=pcie.0,addr=0x2.0x4,port=0x14,chassis=5,slot=5",
        "-device", "pcie-root-port,id=rp5,bus=pcie.0,addr=0x2.0x5,port=0x15,chassis=6,slot=6",
        "-device", "pcie-root-port,id=rp6,bus=pcie.0,addr=0x2.0x6,port=0x16,chassis=7,slot=7",
        "-device", "pcie-root-port,id=rp7,bus=pcie.0,addr=0x2.0x7,port=0x17,chassis=8,slot=8",
    ];

    private static VmSpec Small() => new(VmId, 1, 1, 512, VmSpec.DefaultMachineType, 200_000,
        [new DiskSpec("root", 10L << 30, "debian-12.qcow2")], [new NicSpec("net0", "52:54:00:AB:CD:EF")]);

    [Fact]
    public void Small_tcg_vm_gets_the_golden_argv()
    {
        var argv = QemuCommandLine.Build(Small(), new VmPaths("/run/paddock/vm1"), Accelerator.Tcg, QemuLaunchOptions.Default);

        string[] expected =
        [
            "/usr/bin/qemu-system-x86_64",
            "-name", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f",
            "-machine", "pc-q35-7.2",
            "-accel", "tcg",
            "-cpu", "max",
            "-m", "size=512M",
            "-smp", "cpus=1,maxcpus=1",
            "-nodefaults", "-no-user-config",
            "-no-shutdown",
            "-msg", "timestamp=on",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            "-pidfile", "/run/paddock/vm1/qemu/qemu.pid",
            "-display", "none",
            "-chardev", "socket,id=qmp,path=/run/paddock/vm1/qemu/qmp.sock,server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-chardev", "socket,id=serial0,path=/run/paddock/vm1/qemu/serial.sock,server=on,wait=off,logfile=/run/paddock/vm1/serial.log,logappend=on",
            "-serial", "chardev:serial0",
            "-device", "VGA,id=video0,bus=pcie.0,addr=0x1",
            "-vnc", "unix:/run/paddock/vm1/qemu/vnc.sock",
            .. RootPorts,
            "-blockdev", "driver=file,node-name=base-file-root,filename=/var/lib/paddock/images/debian-12.qcow2,read-only=on",
            "-blockdev", "{\"driver\":\"qcow2\",\"node-name\":\"base-root\",\"file\":\"base-file-root\",\"backing\":null,\"read-only\":true}",
            "-blockdev", "driver=file,node-name=file-root,filename=/run/paddock/vm1/disk-root.qcow2,discard=unmap",
            "-blockdev", "{\"driver\":\"qcow2\",\"node-name\":\"root\",\"file\":\"file-root\",\"backing\":\"base-root\",\"discard\":\"unmap\"}",
            "-device", "virtio-blk-pci,id=disk-root,drive=root,bus=rp0,bootindex=1",
            "-netdev", "user,id=net0,restrict=on",
            "-device", "virtio-net-pci,id=nic-net0,netdev=net0,mac=52:54:00:ab:cd:ef,bus=rp1",
            "-device", "virtio-balloon-pci,id=balloon0,bus=rp2",
        ];
        Assert.Equal(expected, argv);
    }

    [Fact]
    public void Kvm_vm_with_two_disks_and_two_nics_started_paused_gets_the_golden_argv()
    {
        var spec = new VmSpec(VmId, 4, 8, 8192, "pc-q35-7.2", 200_123,
            [new DiskSpec("root", 20L << 30, "debian-12.qcow2"), new DiskSpec("data", 100L << 30, null)],
            [new NicSpec("lan", "52:54:00:00:00:01"), new NicSpec("mgmt", "52:54:00:00:00:02")]);
        var options = QemuLaunchOptions.Default with { StartPaused = true, VncPassword = true, QemuBinary = "/opt/qemu/bin/qemu-system-x86_64" };

        var argv = QemuCommandLine.Build(spec, new VmPaths("/var/lib/paddock/vms/x"), Accelerator.Kvm, options);

        string[] expected =
        [
            "/opt/qemu/bin/qemu-system-x86_64",
            "-name", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f",
            "-machine", "pc-q35-7.2",
            "-accel", "kvm",
            "-cpu", "host",
            "-m", "size=8192M",
            "-smp", "cpus=4,maxcpus=8",
            "-nodefaults", "-no-user-config",
            "-no-shutdown",
            "-msg", "timestamp=on",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            "-pidfile", "/var/lib/paddock/vms/x/qemu/qemu.pid",
            "-display", "none",
            "-chardev", "socket,id=qmp,path=/var/lib/paddock/vms/x/qemu/qmp.sock,server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-chardev",
            "socket,id=serial0,path=/var/lib/paddock/vms/x/qemu/serial.sock,server=on,wait=off,logfile=/var/lib/paddock/vms/x/serial.log,logappend=on",
            "-serial", "chardev:serial0",
            "-device", "VGA,id=video0,bus=pcie.0,addr=0x1",
            "-vnc", "unix:/var/lib/paddock/vms/x/qemu/vnc.sock,password=on",
            .. RootPorts,
            "-blockdev", "driver=file,node-name=base-file-root,filename=/var/lib/paddock/images/debian-12.qcow2,read-only=on",
            "-blockdev", "{\"driver\":\"qcow2\",\"node-name\":\"base-root\",\"file\":\"base-file-root\",\"backing\":null,\"read-only\":true}",
            "-blockdev", "driver=file,node-name=file-root,filename=/var/lib/paddock/vms/x/disk-root.qcow2,discard=unmap",
            "-blockdev", "{\"driver\":\"qcow2\",\"node-name\":\"root\",\"file\":\"file-root\",\"backing\":\"base-root\",\"discard\":\"unmap\"}",
            "-device", "virtio-blk-pci,id=disk-root,drive=root,bus=rp0,bootindex=1",
            "-blockdev", "driver=file,node-name=file-data,filename=/var/lib/paddock/vms/x/disk-data.qcow2,discard=unmap",
            "-blockdev", "{\"driver\":\"qcow2\",\"node-name\":\"data\",\"file\":\"file-data\",\"backing\":null,\"discard\":\"unmap\"}",
            "-device", "virtio-blk-pci,id=disk-data,drive=data,bus=rp1",
            "-netdev", "user,id=lan,restrict=on",
            "-device", "virtio-net-pci,id=nic-lan,netdev=lan,mac=52:54:00:00:00:01,bus=rp2",
            "-netdev", "user,id=mgmt,restrict=on",
            "-device", "virtio-net-pci,id=nic-mgmt,netdev=mgmt,mac=52:54:00:00:00:02,bus=rp3",
            "-device", "virtio-balloon-pci,id=balloon0,bus=rp4",
            "-S",
        ];
        Assert.Equal(expected, argv);
    }

    [Fact]
    public void Whpx_vm_in_a_run_directory_with_commas_spaces_and_quotes_gets_the_golden_argv()
    {
        // q35 (the only machine whose pcie.0 takes the root ports), QEMU's interrupt controller, qemu64.
        var spec = new VmSpec(VmId, 2, 2, 2048, "pc-q35-7.2", 1000, [new DiskSpec("os", 1L << 30, null)], []);
        var paths = new VmPaths("/srv/a,b c/\"q\"'s,,/vm");
        var options = QemuLaunchOptions.Default with { Sandbox = false, RootPorts = 10 };

        var argv = QemuCommandLine.Build(spec, paths, Accelerator.Whpx, options);

        const string dir = "/srv/a,,b c/\"q\"'s,,,,/vm";
        string[] expected =
        [
            "/usr/bin/qemu-system-x86_64",
            "-name", "guest=0b5c3f4e-7d1a-4c2b-9e8f-1a2b3c4d5e6f",
            "-machine", "pc-q35-7.2",
            "-accel", "whpx,kernel-irqchip=off",
            "-cpu", "qemu64",
            "-m", "size=2048M",
            "-smp", "cpus=2,maxcpus=2",
            "-nodefaults", "-no-user-config",
            "-no-shutdown",
            "-msg", "timestamp=on",
            // -pidfile takes its argument verbatim: no doubling there.
            "-pidfile", "/srv/a,b c/\"q\"'s,,/vm/qemu/qemu.pid",
            "-display", "none",
            "-chardev", $"socket,id=qmp,path={dir}/qemu/qmp.sock,server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-chardev", $"socket,id=serial0,path={dir}/qemu/serial.sock,server=on,wait=off,logfile={dir}/serial.log,logappend=on",
            "-serial", "chardev:serial0",
            "-device", "VGA,id=video0,bus=pcie.0,addr=0x1",
            "-vnc", $"unix:{dir}/qemu/vnc.sock",
            .. RootPorts,
            "-device", "pcie-root-port,id=rp8,bus=pcie.0,addr=0x3.0x0,multifunction=on,port=0x18,chassis=9,slot=9",
            "-device", "pcie-root-port,id=rp9,bus=pcie.0,addr=0x3.0x1,port=0x19,chassis=10,slot=10",
            "-blockdev", $"driver=file,node-name=file-os,filename={dir}/disk-os.qcow2,discard=unmap",
            "-blockdev", "{\"driver\":\"qcow2\",\"node-name\":\"os\",\"file\":\"file-os\",\"backing\":null,\"discard\":\"unmap\"}",
            "-device", "virtio-blk-pci,id=disk-os,drive=os,bus=rp0,bootindex=1",
            "-device", "virtio-balloon-pci,id=balloon0,bus=rp1",
        ];
        Assert.Equal(expected, argv);
    }

    [Fact]
    public void The_second_monitor_is_there_only_when_tests_ask_for_it()
    {
        var without = QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default);
        var with = QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default with { TestMonitor = true });

        Assert.DoesNotContain(without, a => a.Contains("qmp-test", StringComparison.Ordinal));
        Assert.Equal(["-chardev", "socket,id=qmp-test,path=/run/vm/qemu/qmp-test.sock,server=on,wait=off", "-mon", "chardev=qmp-test,mode=control"],
            Pair(with, "socket,id=qmp-test").Concat(Pair(with, "chardev=qmp-test,mode=control")));
        Assert.Equal(without.Count + 4, with.Count);
    }

    private static IEnumerable<string> Pair(IReadOnlyList<string> argv, string valuePrefix)
    {
        var i = argv.ToList().FindIndex(a => a.StartsWith(valuePrefix, StringComparison.Ordinal));
        return [argv[i - 1], argv[i]];
    }

    [Fact]
    public void An_iso_in_the_cd_drive_is_read_only_raw_and_boots_first_when_the_boot_order_says_so()
    {
        var spec = Small() with { Cdroms = [new CdromSpec("cd0", "install,me.iso"), new CdromSpec("cd1", null)],
            BootOrder = [BootDevice.Cdrom, BootDevice.Disk] };

        var argv = QemuCommandLine.Build(spec, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default with { ImagesDirectory = "/srv/images" });

        Assert.Equal(
            [
                "-blockdev", "driver=file,node-name=file-cd0,filename=/srv/images/install,,me.iso,read-only=on",
                "-blockdev", "driver=raw,node-name=cd0,file=file-cd0,read-only=on",
                "-device", "ide-cd,id=cdrom-cd0,bus=ide.0,drive=cd0,bootindex=1",
                "-device", "ide-cd,id=cdrom-cd1,bus=ide.1",
            ],
            argv.Skip(argv.ToList().FindIndex(a => a.StartsWith("driver=file,node-name=file-cd0", StringComparison.Ordinal)) - 1).Take(8));
        Assert.Contains("virtio-blk-pci,id=disk-root,drive=root,bus=rp0,bootindex=2", argv);
    }

    [Fact]
    public void An_iso_name_that_leaves_the_image_store_is_refused()
    {
        var spec = Small() with { Cdroms = [new CdromSpec("cd0", "../../etc/shadow")] };

        Assert.Throws<InvalidVmSpecException>(() => QemuCommandLine.Build(spec, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default));
    }

    [Fact]
    public void A_boot_order_naming_a_missing_cd_drive_is_refused() =>
        Assert.Equal("BootOrder", Assert.Throws<InvalidVmSpecException>(() =>
            QemuCommandLine.Build(Small() with { BootOrder = [BootDevice.Cdrom] }, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default)).Field);

    [Fact]
    public void Paths_with_commas_are_doubled_in_qemu_options()
    {
        var argv = QemuCommandLine.Build(Small(), new VmPaths("/data/x,y"), Accelerator.Tcg, QemuLaunchOptions.Default);

        Assert.Contains("socket,id=qmp,path=/data/x,,y/qemu/qmp.sock,server=on,wait=off", argv);
        Assert.Contains("unix:/data/x,,y/qemu/vnc.sock", argv);
        Assert.Contains("driver=file,node-name=file-root,filename=/data/x,,y/disk-root.qcow2,discard=unmap", argv);
        // A single comma from a path never survives into an option list.
        Assert.DoesNotContain(argv, a => a.Contains("x,y/") && a.Contains('='));
    }

    [Fact]
    public void Display_name_never_reaches_qemu_only_the_vm_id()
    {
        var argv = QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default);

        var name = argv[argv.ToList().IndexOf("-name") + 1];
        Assert.Equal($"guest={VmId}", name);
    }

    [Fact]
    public void Restore_waits_for_its_state_with_incoming_defer_and_a_normal_start_does_not()
    {
        var restore = QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, new QemuLaunchOptions { IncomingDeferred = true });
        var start = QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default);
        Assert.Contains("-incoming defer", string.Join(' ', restore));
        Assert.DoesNotContain("-incoming", start);
    }

    [Fact]
    public void Start_paused_adds_S_and_sandbox_can_be_turned_off()
    {
        var argv = QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, new QemuLaunchOptions { StartPaused = true, Sandbox = false });

        Assert.Equal("-S", argv[^1]);
        Assert.DoesNotContain("-sandbox", argv);
    }

    [Fact]
    public void Qemu_binary_with_a_newline_is_refused()
    {
        var options = QemuLaunchOptions.Default with { QemuBinary = "/usr/bin/qemu\n-evil" };

        Assert.Throws<UnsafeQemuValueException>(() => QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, options));
    }

    [Fact]
    public void An_invalid_spec_is_refused_before_any_argv_is_built()
    {
        var spec = Small() with { MemoryMiB = 0 };

        var error = Assert.Throws<InvalidVmSpecException>(
            () => QemuCommandLine.Build(spec, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default));
        Assert.Equal("MemoryMiB", error.Field);
    }

    [Fact]
    public void Too_few_root_ports_for_the_cold_plugged_devices_is_refused()
    {
        var options = QemuLaunchOptions.Default with { RootPorts = 2 };

        Assert.Throws<ArgumentException>(() => QemuCommandLine.Build(Small(), new VmPaths("/run/vm"), Accelerator.Tcg, options));
    }
}
