using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Vms;

public sealed class VmSpecValidatorTests
{
    private static VmSpec Valid() => new(Guid.NewGuid(), 2, 4, 2048, VmSpec.DefaultMachineType, 200_000,
        [new DiskSpec("root", 10L << 30, "debian-12.qcow2")], [new NicSpec("net0", "52:54:00:12:34:56")]);

    public static TheoryData<string, Func<VmSpec, VmSpec>, string> Refusals => new()
    {
        { "zero vCPUs", s => s with { VCpus = 0 }, "VCpus" },
        { "negative vCPUs", s => s with { VCpus = -1 }, "VCpus" },
        { "absurd vCPUs", s => s with { VCpus = 65, MaxVCpus = 65 }, "VCpus" },
        { "max below vCPUs", s => s with { MaxVCpus = 1 }, "MaxVCpus" },
        { "absurd max vCPUs", s => s with { MaxVCpus = 128 }, "MaxVCpus" },
        { "zero memory", s => s with { MemoryMiB = 0 }, "MemoryMiB" },
        { "too little memory", s => s with { MemoryMiB = 63 }, "MemoryMiB" },
        { "absurd memory", s => s with { MemoryMiB = 262_145 }, "MemoryMiB" },
        { "unversioned machine", s => s with { MachineType = "q35" }, "MachineType" },
        { "machine with options", s => s with { MachineType = "pc-q35-7.2,accel=kvm" }, "MachineType" },
        { "machine with trailing newline", s => s with { MachineType = "pc-q35-7.2\n" }, "MachineType" },
        { "other machine", s => s with { MachineType = "microvm" }, "MachineType" },
        { "root uid", s => s with { Uid = 0 }, "Uid" },
        { "negative uid", s => s with { Uid = -5 }, "Uid" },
        { "no disk", s => s with { Disks = [] }, "Disks" },
        { "zero disk", s => s with { Disks = [new DiskSpec("root", 0, null)] }, "Disks[0].SizeBytes" },
        { "negative disk", s => s with { Disks = [new DiskSpec("root", -512, null)] }, "Disks[0].SizeBytes" },
        { "absurd disk", s => s with { Disks = [new DiskSpec("root", (16L << 40) + 512, null)] }, "Disks[0].SizeBytes" },
        { "unaligned disk", s => s with { Disks = [new DiskSpec("root", 1000, null)] }, "Disks[0].SizeBytes" },
        { "upper-case disk id", s => s with { Disks = [new DiskSpec("Root", 1 << 20, null)] }, "Disks[0].Id" },
        { "disk id with a slash", s => s with { Disks = [new DiskSpec("../etc", 1 << 20, null)] }, "Disks[0].Id" },
        { "disk id with a comma", s => s with { Disks = [new DiskSpec("a,b", 1 << 20, null)] }, "Disks[0].Id" },
        { "disk id too long for a node name", s => s with { Disks = [new DiskSpec(new string('a', 27), 1 << 20, null)] }, "Disks[0].Id" },
        { "disk id taking a file node's name", s => s with { Disks = [new DiskSpec("file-x", 1 << 20, null)] }, "Disks[0].Id" },
        { "duplicate disk id", s => s with { Disks = [new DiskSpec("a", 1 << 20, null), new DiskSpec("a", 1 << 20, null)] }, "Disks[1].Id" },
        { "base image traversal", s => s with { Disks = [new DiskSpec("root", 1 << 20, "../../etc/shadow")] }, "Disks[0].BaseImage" },
        { "nic id starting with a digit", s => s with { Nics = [new NicSpec("0net", "52:54:00:12:34:56")] }, "Nics[0].Id" },
        { "nic id too long", s => s with { Nics = [new NicSpec(new string('n', 32), "52:54:00:12:34:56")] }, "Nics[0].Id" },
        { "mac with dashes", s => s with { Nics = [new NicSpec("net0", "52-54-00-12-34-56")] }, "Nics[0].Mac" },
        { "mac too short", s => s with { Nics = [new NicSpec("net0", "52:54:00:12:34")] }, "Nics[0].Mac" },
        { "multicast mac", s => s with { Nics = [new NicSpec("net0", "01:00:5e:00:00:01")] }, "Nics[0].Mac" },
        { "zero mac", s => s with { Nics = [new NicSpec("net0", "00:00:00:00:00:00")] }, "Nics[0].Mac" },
        { "duplicate mac", s => s with { Nics = [new NicSpec("a", "52:54:00:12:34:56"), new NicSpec("b", "52:54:00:12:34:56")] }, "Nics[1].Mac" },
        { "empty id", s => s with { Id = Guid.Empty }, "Id" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Refuses_an_unusable_spec_naming_the_field(string why, Func<VmSpec, VmSpec> change, string field)
    {
        var error = Assert.Throws<InvalidVmSpecException>(() => VmSpecValidator.Validate(change(Valid())));

        Assert.True(error.Field == field, $"{why}: expected field {field}, got {error.Field} ({error.Message})");
        Assert.StartsWith(field, error.Message);
    }

    [Fact]
    public void Messages_name_the_allowed_range()
    {
        var vcpus = Assert.Throws<InvalidVmSpecException>(() => VmSpecValidator.Validate(Valid() with { VCpus = 0 }));
        var memory = Assert.Throws<InvalidVmSpecException>(() => VmSpecValidator.Validate(Valid() with { MemoryMiB = 1_000_000 }));
        var disk = Assert.Throws<InvalidVmSpecException>(() => VmSpecValidator.Validate(Valid() with { Disks = [new DiskSpec("root", 0, null)] }));

        Assert.Equal("VCpus must be between 1 and 64 (was 0)", vcpus.Message);
        Assert.Equal("MemoryMiB must be between 64 and 262144 (was 1000000)", memory.Message);
        Assert.Contains("16 TiB", disk.Message);
    }

    [Fact]
    public void Accepts_the_limits_themselves()
    {
        VmSpecValidator.Validate(Valid() with { VCpus = 64, MaxVCpus = 64, MemoryMiB = 262_144, Disks = [new DiskSpec(new string('d', 26), 16L << 40, null)] });
        VmSpecValidator.Validate(Valid() with { VCpus = 1, MaxVCpus = 1, MemoryMiB = 64, MachineType = "pc-q35-10.0", Nics = [], Uid = 1 });
    }

    [Theory]
    [InlineData("pc-i440fx-7.2")]
    [InlineData("q35")]
    [InlineData("pc-q35-7.2\n")]
    [InlineData("microvm")]
    public void Refuses_machine_types_the_command_line_cannot_boot(string machine)
    {
        // Every device goes on a root port of pcie.0, which only q35 has ("Bus 'pcie.0' not found" on i440fx).
        var error = Assert.Throws<InvalidVmSpecException>(() => VmSpecValidator.Validate(Valid() with { MachineType = machine }));

        Assert.Equal("MachineType", error.Field);
        Assert.Contains("q35", error.Message);
    }

    [Fact]
    public void A_nul_list_from_deserialisation_is_refused_not_crashed_on()
    {
        var error = Assert.Throws<InvalidVmSpecException>(() => VmSpecValidator.Validate(Valid() with { Nics = null! }));

        Assert.Equal("Nics", error.Field);
    }
}
