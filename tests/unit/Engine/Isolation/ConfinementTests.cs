using Paddock.Engine.Isolation;

namespace Paddock.Unit.Engine.Isolation;

public sealed class ConfinementTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("paddock-selinux-").FullName;

    [Fact]
    public void A_root_agent_with_a_sandboxed_qemu_and_no_selinux_is_dac_plus_seccomp_and_lacks_nothing()
    {
        var host = new Confinement(OwnUid: true, Sandbox: true, SelinuxState.Absent, SelinuxTools: false);

        Assert.Equal("DAC + seccomp", host.Mode);
        Assert.Empty(host.Missing);
        Assert.Null(host.Refusal(allowUnconfined: false));
    }

    [Fact]
    public void Where_selinux_enforces_and_chcon_is_there_the_labels_are_one_more_wall() =>
        Assert.Equal("SELinux + DAC + seccomp", new Confinement(true, true, SelinuxState.Enforcing, true).Mode);

    [Fact]
    public void A_vm_is_not_started_unconfined_and_the_refusal_names_every_missing_wall()
    {
        var host = new Confinement(OwnUid: false, Sandbox: false, SelinuxState.Enforcing, SelinuxTools: false);

        Assert.Equal("unconfined", host.Mode);
        Assert.Equal(
            "Not started unconfined: this host lacks an own uid per VM (the agent does not run as root), QEMU's seccomp sandbox (this QEMU has none), "
            + "SELinux labels (SELinux enforces here, but chcon is missing). An admin can allow unconfined VMs on this host.",
            host.Refusal(allowUnconfined: false));
    }

    [Fact]
    public void A_windows_agent_reports_both_walls_missing_in_its_own_words_so_placement_passes_its_host_over()
    {
        var host = new Confinement(false, false, SelinuxState.Absent, false, Paddock.Engine.Hosting.HostOs.Windows);

        Assert.Equal("unconfined", host.Mode);
        Assert.Equal(
            ["an own identity per VM (on Windows every VM's QEMU runs as the agent itself)",
                "QEMU's seccomp sandbox (Linux only; Windows has no equivalent here)"],
            host.Missing);
        Assert.DoesNotContain(host.Missing, m => m.Contains("root", StringComparison.Ordinal));
        Assert.NotNull(Confinement.RefusalFor(host.Missing, allowUnconfined: false));
        Assert.Equal((-1, -1), host.IdsFor(2_000_123));
    }

    [Fact]
    public void An_admins_leave_for_the_host_lets_an_unconfined_vm_start() =>
        Assert.Null(new Confinement(false, true, SelinuxState.Absent, false).Refusal(allowUnconfined: true));

    [Fact]
    public void Permissive_selinux_is_not_a_wall_and_not_missing()
    {
        var host = new Confinement(true, true, SelinuxState.Permissive, false);

        Assert.Equal("DAC + seccomp", host.Mode);
        Assert.Empty(host.Missing);
    }

    [Theory]
    [InlineData(null, SelinuxState.Absent)]
    [InlineData("1\n", SelinuxState.Enforcing)]
    [InlineData("0\n", SelinuxState.Permissive)]
    public void The_selinux_state_is_read_from_the_enforce_file(string? enforce, SelinuxState expected)
    {
        if (enforce is not null)
        {
            File.WriteAllText(Path.Combine(_dir, "enforce"), enforce);
        }

        Assert.Equal(expected, Confinement.ReadSelinux(_dir));
    }

    [Fact]
    public void Selinux_contexts_carry_the_vms_categories_and_shared_bases_none()
    {
        var contexts = new SelinuxContexts();
        var label = McsLabel.Parse("s0:c3,c7");

        Assert.Equal("system_u:system_r:svirt_t:s0:c3,c7", contexts.Process(label));
        Assert.Equal("system_u:object_r:svirt_image_t:s0:c3,c7", contexts.Image(label));
        Assert.Equal("system_u:object_r:virt_content_t:s0", contexts.Shared);
    }

    [Fact]
    public void A_configured_selinux_type_that_is_not_an_identifier_is_refused() =>
        Assert.Throws<ArgumentException>(() => new SelinuxContexts(ProcessType: "svirt_t:s0 -- x").Process(McsLabel.Parse("s0:c0,c1")));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
