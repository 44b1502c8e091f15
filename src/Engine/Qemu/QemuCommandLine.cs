using System.Globalization;
using Paddock.Engine.Hosting;
using Paddock.Engine.Images;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Qemu;

/// <summary>
/// <see cref="VmSpec"/> to QEMU argv, as a pure function (libvirt's qemu_command.c is the model).
/// The result is an argument vector for exec, never a shell string; argv[0] is the QEMU binary.
/// </summary>
public static class QemuCommandLine
{
    /// <summary>The sandbox QEMU runs under: every seccomp group denied (docs: "-sandbox").</summary>
    public const string SandboxOptions = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

    /// <summary>The argv for <paramref name="spec"/>. Validates the spec first (<see cref="InvalidVmSpecException"/>).</summary>
    /// <exception cref="UnsafeQemuValueException">A path holds a newline or NUL.</exception>
    public static IReadOnlyList<string> Build(VmSpec spec, VmPaths paths, Accelerator accel, QemuLaunchOptions options)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(options);
        VmSpecValidator.Validate(spec);

        var coldPlugged = spec.Disks.Count + spec.Nics.Count + 1;
        if (options.RootPorts is < 1 or > 64 || coldPlugged > options.RootPorts)
            throw new ArgumentException(
                $"RootPorts must be between {coldPlugged} (disks + NICs + balloon) and 64 (was {options.RootPorts}).", nameof(options));

        var argv = new List<string> { QemuOptionValue.Verbatim(options.QemuBinary, "QEMU binary") };
        void Add(params string[] args) => argv.AddRange(args);

        // Only the id: display names are the users' text and never reach QEMU.
        Add("-name", $"guest={spec.Id:D}");
        // The versioned type stored with the VM keeps the guest ABI stable across QEMU upgrades.
        Add("-machine", spec.MachineType);
        Add("-accel", Accelerators.QemuName(accel));
        // "host" needs KVM/WHPX/HVF; TCG takes "max", every feature it can emulate.
        Add("-cpu", accel == Accelerator.Tcg ? "max" : "host");
        Add("-m", Invariant($"size={spec.MemoryMiB}M"));
        Add("-smp", Invariant($"cpus={spec.VCpus},maxcpus={spec.MaxVCpus}"));
        Add("-nodefaults", "-no-user-config");
        // A guest poweroff stops the vCPUs and keeps the process: the agent decides (quit or reset).
        Add("-no-shutdown");
        Add("-msg", "timestamp=on");
        if (options.Sandbox)
            Add("-sandbox", SandboxOptions);
        Add("-pidfile", QemuOptionValue.Verbatim(paths.PidFile, "pidfile path"));
        Add("-display", "none");

        Add("-chardev", $"socket,id=qmp,path={Escape(paths.QmpSocket, "QMP socket path")},server=on,wait=off");
        Add("-mon", "chardev=qmp,mode=control");
        if (options.TestMonitor)
        {
            Add("-chardev", $"socket,id=qmp-test,path={Escape(paths.TestMonitorSocket, "test monitor socket path")},server=on,wait=off");
            Add("-mon", "chardev=qmp-test,mode=control");
        }

        Add("-chardev",
            $"socket,id=serial0,path={Escape(paths.SerialSocket, "serial socket path")},server=on,wait=off," +
            $"logfile={Escape(paths.SerialLog, "serial log path")},logappend=on");
        Add("-serial", "chardev:serial0");

        // Standard VGA at a fixed address; VNC only on a unix socket, never on a network.
        Add("-device", "VGA,id=video0,bus=pcie.0,addr=0x1");
        Add("-vnc", $"unix:{Escape(paths.VncSocket, "VNC socket path")}" + (options.VncPassword ? ",password=on" : ""));

        // Root ports as libvirt lays them out: eight functions per slot from 00:02.0, function 0
        // multifunction, a distinct chassis/slot pair each (docs/pcie.txt).
        for (var i = 0; i < options.RootPorts; i++)
        {
            var (slot, function) = (2 + i / 8, i % 8);
            Add("-device", Invariant(
                $"pcie-root-port,id={RootPort(i)},bus=pcie.0,addr=0x{slot:x}.0x{function:x}{(function == 0 ? ",multifunction=on" : "")},port=0x{0x10 + i:x},chassis={i + 1},slot={i + 1}"));
        }

        var port = 0;
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            var disk = spec.Disks[i];
            // Two nodes per disk so QMP can address the format layer by the disk's id
            // (snapshots, block jobs) and the protocol layer separately.
            Add("-blockdev", $"driver=file,node-name=file-{disk.Id},filename={Escape(paths.Disk(disk.Id), "disk path")},discard=unmap");
            Add("-blockdev", $"driver=qcow2,node-name={disk.Id},file=file-{disk.Id},discard=unmap");
            Add("-device", $"virtio-blk-pci,id=disk-{disk.Id},drive={disk.Id},bus={RootPort(port++)}{BootIndex(spec, BootDevice.Disk, i)}");
        }

        for (var i = 0; i < spec.Cdroms.Count; i++)
        {
            var cdrom = spec.Cdroms[i];
            if (cdrom.Image is { } image)
            {
                var iso = Escape(new ImageStore(options.ImagesDirectory).Resolve(image), "ISO path");
                Add("-blockdev", $"driver=file,node-name=file-{cdrom.Id},filename={iso},read-only=on");
                Add("-blockdev", $"driver=raw,node-name={cdrom.Id},file=file-{cdrom.Id},read-only=on");
            }

            // On the q35 AHCI controller; an empty drive takes media later (blockdev-change-medium).
            Add("-device", $"ide-cd,id=cdrom-{cdrom.Id},bus=ide.{i}{(cdrom.Image is null ? "" : $",drive={cdrom.Id}")}{BootIndex(spec, BootDevice.Cdrom, i)}");
        }

        for (var i = 0; i < spec.Nics.Count; i++)
        {
            var nic = spec.Nics[i];
            Add("-netdev", $"user,id={nic.Id}");
            Add("-device", $"virtio-net-pci,id=nic-{nic.Id},netdev={nic.Id},mac={nic.Mac.ToLowerInvariant()},bus={RootPort(port++)}{BootIndex(spec, BootDevice.Network, i)}");
        }

        Add("-device", $"virtio-balloon-pci,id=balloon0,bus={RootPort(port)}");

        if (options.StartPaused)
            Add("-S");
        // Restore: QEMU waits for migrate-incoming on QMP; the agent then streams the saved state in.
        if (options.IncomingDeferred)
            Add("-incoming", "defer");

        return argv.AsReadOnly();
    }

    /// <summary>The first device of each kind boots in the order the spec gives (bootindex 1, 2, ...).</summary>
    private static string BootIndex(VmSpec spec, BootDevice kind, int index)
    {
        var position = spec.BootOrder.ToList().IndexOf(kind);
        return index == 0 && position >= 0 ? Invariant($",bootindex={position + 1}") : "";
    }

    private static string RootPort(int index) => Invariant($"rp{index}");

    private static string Escape(string value, string what) => QemuOptionValue.Escape(value, what);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
