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
    /// <remarks>
    /// One method per group of options, each appending to the argv in order, as libvirt's
    /// <c>qemuBuild*CommandLine</c> functions append to one <c>virCommand</c>.
    /// </remarks>
    public static IReadOnlyList<string> Build(VmSpec spec, VmPaths paths, Accelerator accel, QemuLaunchOptions options)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(options);
        VmSpecValidator.Validate(spec);
        CheckRootPorts(spec, options);
        spec = DeviceLayout.WithPorts(spec);
        var beyond = spec.Disks.Select(d => d.Port).Concat(spec.Nics.Select(n => n.Port)).Append(spec.BalloonPort)
            .FirstOrDefault(p => int.Parse(p![2..], System.Globalization.CultureInfo.InvariantCulture) >= options.RootPorts);
        if (beyond is not null)
            throw new ArgumentException($"Root port {beyond} is beyond the {options.RootPorts} root ports this QEMU gets.", nameof(options));

        var argv = new List<string> { QemuOptionValue.Verbatim(options.QemuBinary, "QEMU binary") };
        AddMachine(argv, spec, paths, accel, options);
        AddMonitors(argv, paths, options);
        AddSerial(argv, paths);
        AddVideo(argv, paths, options);
        AddRootPorts(argv, options.RootPorts);
        AddDisks(argv, spec, paths, options);
        AddCdroms(argv, spec, options);
        AddSeed(argv, spec, paths);
        AddNics(argv, spec);
        argv.Add("-device", $"virtio-balloon-pci,id=balloon0,bus={spec.BalloonPort}");
        AddGuestAgent(argv, spec, paths);
        AddStartMode(argv, options);
        return argv.AsReadOnly();
    }

    /// <summary>Every disk, NIC and the balloon takes a root port of its own.</summary>
    private static void CheckRootPorts(VmSpec spec, QemuLaunchOptions options)
    {
        var coldPlugged = spec.Disks.Count + spec.Nics.Count + 1;
        if (options.RootPorts is < 1 or > 64 || coldPlugged > options.RootPorts)
        {
            throw new ArgumentException(
                $"RootPorts must be between {coldPlugged} (disks + NICs + balloon) and 64 (was {options.RootPorts}).", nameof(options));
        }
    }

    /// <summary>The machine, its CPUs and memory, and how the process itself behaves.</summary>
    private static void AddMachine(List<string> argv, VmSpec spec, VmPaths paths, Accelerator accel, QemuLaunchOptions options)
    {
        // Only the id: display names are the users' text and never reach QEMU.
        argv.Add("-name", $"guest={spec.Id:D}");
        // The versioned type stored with the VM keeps the guest ABI stable across QEMU upgrades.
        argv.Add("-machine", spec.MachineType);
        argv.Add("-accel", Accelerators.QemuAccelArgument(accel));
        argv.Add("-cpu", Accelerators.QemuCpuModel(accel));
        argv.Add("-m", Invariant($"size={spec.MemoryMiB}M"));
        argv.Add("-smp", Invariant($"cpus={spec.VCpus},maxcpus={spec.MaxVCpus}"));
        argv.Add("-nodefaults", "-no-user-config");
        // A guest poweroff stops the vCPUs and keeps the process: the agent decides (quit or reset).
        argv.Add("-no-shutdown");
        argv.Add("-msg", "timestamp=on");
        if (options.Sandbox)
            argv.Add("-sandbox", SandboxOptions);
        argv.Add("-pidfile", QemuOptionValue.Verbatim(paths.PidFile, "pidfile path"));
        argv.Add("-display", "none");
    }

    /// <summary>The agent's QMP monitor and, for tests, a second one.</summary>
    private static void AddMonitors(List<string> argv, VmPaths paths, QemuLaunchOptions options)
    {
        argv.Add("-chardev", $"socket,id=qmp,path={Escape(paths.QmpSocket, "QMP socket path")},server=on,wait=off");
        argv.Add("-mon", "chardev=qmp,mode=control");
        if (options.TestMonitor)
        {
            argv.Add("-chardev",
                $"socket,id=qmp-test,path={Escape(paths.TestMonitorSocket, "test monitor socket path")},server=on,wait=off");
            argv.Add("-mon", "chardev=qmp-test,mode=control");
        }
    }

    /// <summary>The serial console on a unix socket, with everything the guest writes logged.</summary>
    private static void AddSerial(List<string> argv, VmPaths paths)
    {
        argv.Add("-chardev",
            $"socket,id=serial0,path={Escape(paths.SerialSocket, "serial socket path")},server=on,wait=off," +
            $"logfile={Escape(paths.SerialLog, "serial log path")},logappend=on");
        argv.Add("-serial", "chardev:serial0");
    }

    /// <summary>Standard VGA at a fixed address; VNC only on a unix socket, never on a network.</summary>
    private static void AddVideo(List<string> argv, VmPaths paths, QemuLaunchOptions options)
    {
        argv.Add("-device", "VGA,id=video0,bus=pcie.0,addr=0x1");
        argv.Add("-vnc", $"unix:{Escape(paths.VncSocket, "VNC socket path")}" + (options.VncPassword ? ",password=on" : ""));
    }

    /// <summary>
    /// Root ports as libvirt lays them out: eight functions per slot from 00:02.0, function 0
    /// multifunction, a distinct chassis/slot pair each (docs/pcie.txt).
    /// </summary>
    private static void AddRootPorts(List<string> argv, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var (slot, function) = (2 + i / 8, i % 8);
            var address = Invariant($"addr=0x{slot:x}.0x{function:x}") + (function == 0 ? ",multifunction=on" : "");
            argv.Add("-device",
                Invariant($"pcie-root-port,id={RootPort(i)},bus=pcie.0,{address},port=0x{0x10 + i:x},chassis={i + 1},slot={i + 1}"));
        }
    }

    /// <summary>The disks, each in its root port (<see cref="DeviceLayout"/>).</summary>
    private static void AddDisks(List<string> argv, VmSpec spec, VmPaths paths, QemuLaunchOptions options)
    {
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            var disk = spec.Disks[i];
            var backing = AddBaseImage(argv, disk, options);

            // Two nodes per disk so QMP can address the format layer by the disk's id
            // (snapshots, block jobs) and the protocol layer separately.
            argv.Add("-blockdev",
                $"driver=file,node-name=file-{disk.Id},filename={Escape(paths.Disk(disk.Id), "disk path")},discard=unmap");
            argv.Add("-blockdev", Qcow2Node(disk.Id, $"file-{disk.Id}", backing, ("discard", "unmap")));
            argv.Add("-device",
                $"virtio-blk-pci,id=disk-{disk.Id},drive={disk.Id},bus={disk.Port}{BootIndex(spec, BootDevice.Disk, i)}");
        }
    }

    /// <summary>
    /// The read-only base of a linked clone; returns the node name the disk's overlay must name
    /// as its backing, or null. The guest's uid writes its disk, header included: the backing
    /// chain is pinned here, never taken from the header (a linked clone's base by name, every
    /// other disk none).
    /// </summary>
    private static string? AddBaseImage(List<string> argv, DiskSpec disk, QemuLaunchOptions options)
    {
        if (disk.BaseImage is not { } baseImage)
            return null;
        var basePath = Escape(new ImageStore(options.ImagesDirectory).Resolve(baseImage), "base image path");
        argv.Add("-blockdev", $"driver=file,node-name=base-file-{disk.Id},filename={basePath},read-only=on");
        argv.Add("-blockdev", Qcow2Node($"base-{disk.Id}", $"base-file-{disk.Id}", backing: null, ("read-only", true)));
        return $"base-{disk.Id}";
    }

    /// <summary>
    /// The CD-ROM drives, on the q35 AHCI controller; an empty drive takes media later
    /// (blockdev-change-medium).
    /// </summary>
    private static void AddCdroms(List<string> argv, VmSpec spec, QemuLaunchOptions options)
    {
        for (var i = 0; i < spec.Cdroms.Count; i++)
        {
            var cdrom = spec.Cdroms[i];
            if (cdrom.Image is { } image)
            {
                var iso = Escape(new ImageStore(options.ImagesDirectory).Resolve(image), "ISO path");
                argv.Add("-blockdev", $"driver=file,node-name=file-{cdrom.Id},filename={iso},read-only=on");
                argv.Add("-blockdev", $"driver=raw,node-name={cdrom.Id},file=file-{cdrom.Id},read-only=on");
            }

            var drive = cdrom.Image is null ? "" : $",drive={cdrom.Id}";
            argv.Add("-device", $"ide-cd,id=cdrom-{cdrom.Id},bus=ide.{i}{drive}{BootIndex(spec, BootDevice.Cdrom, i)}");
        }
    }

    /// <summary>
    /// The cloud-init seed, a read-only virtio disk on the root bus at a fixed address past the root
    /// ports' slots, so it takes no root port and never moves. Not a CD-ROM drive: cloud kernels
    /// (Debian's) have no AHCI driver, and cloud-init finds the seed by its label on any disk.
    /// </summary>
    private static void AddSeed(List<string> argv, VmSpec spec, VmPaths paths)
    {
        if (spec.CloudInit is null)
            return;
        const string node = VmSpecValidator.SeedDriveId;
        argv.Add("-blockdev", $"driver=file,node-name=file-{node},filename={Escape(paths.Seed, "seed path")},read-only=on");
        argv.Add("-blockdev", $"driver=raw,node-name={node},file=file-{node},read-only=on");
        argv.Add("-device", $"virtio-blk-pci,id=disk-{node},drive={node},bus=pcie.0,addr=0x11");
    }

    /// <summary>The NICs, each in its root port (<see cref="DeviceLayout"/>).</summary>
    private static void AddNics(List<string> argv, VmSpec spec)
    {
        for (var i = 0; i < spec.Nics.Count; i++)
        {
            var nic = spec.Nics[i];
            // A NIC on a tenant network comes over QMP before the guest first runs (its tap goes
            // to QEMU by descriptor, see TapNicPorts), into the root port it would have had here.
            if (nic.Network is not null)
            {
                continue;
            }

            argv.Add("-netdev", GuestNetwork.UserNetdev(nic.Id));
            argv.Add("-device",
                $"virtio-net-pci,id=nic-{nic.Id},netdev={nic.Id},mac={nic.Mac.ToLowerInvariant()}," +
                $"bus={nic.Port}{BootIndex(spec, BootDevice.Network, i)}");
        }
    }

    /// <summary>
    /// The guest agent's virtio-serial channel: its controller sits on the root bus at a fixed
    /// address past the root ports' slots, so it takes no root port and never moves.
    /// </summary>
    private static void AddGuestAgent(List<string> argv, VmSpec spec, VmPaths paths)
    {
        if (!spec.GuestAgent)
            return;
        argv.Add("-chardev", $"socket,id=qga0,path={Escape(paths.GuestAgentSocket, "guest agent socket path")},server=on,wait=off");
        argv.Add("-device", "virtio-serial-pci,id=vserial0,bus=pcie.0,addr=0x10");
        argv.Add("-device", "virtserialport,id=qga0-port,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0");
    }

    /// <summary>
    /// The NICs on tenant networks with the root port each takes (<see cref="DeviceLayout"/>), as if
    /// they were on the command line, so a restore or a migration's destination lays them out as
    /// before. QEMU must start paused (<c>-S</c>) to take them before the guest runs.
    /// </summary>
    public static IReadOnlyList<(NicSpec Nic, string RootPort)> TapNicPorts(VmSpec spec) =>
        [.. DeviceLayout.WithPorts(spec).Nics.Where(n => n.Network is not null).Select(n => (n, n.Port!))];

    /// <summary>Whether the vCPUs wait for "cont", and whether the state comes in from a saved VM.</summary>
    private static void AddStartMode(List<string> argv, QemuLaunchOptions options)
    {
        if (options.StartPaused)
            argv.Add("-S");
        // Restore: QEMU waits for migrate-incoming on QMP; the agent then streams the saved state in.
        if (options.IncomingDeferred)
            argv.Add("-incoming", "defer");
    }

    /// <summary>The first device of each kind boots in the order the spec gives (bootindex 1, 2, ...).</summary>
    private static string BootIndex(VmSpec spec, BootDevice kind, int index)
    {
        var position = spec.BootOrder.ToList().IndexOf(kind);
        return index == 0 && position >= 0 ? Invariant($",bootindex={position + 1}") : "";
    }

    /// <summary>
    /// A qcow2 format node in -blockdev's JSON form: only JSON can say "no backing file" (dotted keys
    /// read <c>backing=null</c> as a node named "null"). Node names are well-formed ids.
    /// </summary>
    private static string Qcow2Node(string name, string file, object? backing, (string Key, object Value) extra) =>
        System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["driver"] = "qcow2",
            ["node-name"] = name,
            ["file"] = file,
            ["backing"] = backing,
            [extra.Key] = extra.Value,
        });

    /// <summary>Appends one option and its values (<see cref="List{T}.Add"/> takes one string at a time).</summary>
    private static void Add(this List<string> argv, params string[] args) => argv.AddRange(args);

    private static string RootPort(int index) => DeviceLayout.RootPort(index);

    private static string Escape(string value, string what) => QemuOptionValue.Escape(value, what);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
