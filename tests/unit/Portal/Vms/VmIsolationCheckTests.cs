using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms;

public sealed class VmIsolationCheckTests
{
    private const string Label = "s0:c3,c7";
    private const int Uid = 100_024;

    private static VmReport Report(string? label = Label, int? uid = Uid, int? runningUid = null, int? runningGid = null) =>
        new(Guid.NewGuid(), VmPowerState.Running, DateTimeOffset.UnixEpoch, Uid: uid, Label: label, RunningUid: runningUid, RunningGid: runningGid);

    [Fact]
    public void A_host_that_holds_the_portals_label_and_uid_and_runs_qemu_as_that_uid_agrees() =>
        Assert.Null(VmIsolationCheck.Disagreement(Label, Uid, Report(runningUid: Uid, runningGid: Uid)));

    [Fact]
    public void What_an_older_agent_or_a_stopped_vm_leaves_out_is_no_disagreement() =>
        Assert.Null(VmIsolationCheck.Disagreement(Label, Uid, Report(label: null, uid: null)));

    [Fact]
    public void Another_label_on_the_host_is_named_with_both_values() =>
        Assert.Equal("label s0:c1,c9 on the host, s0:c3,c7 in the portal.", VmIsolationCheck.Disagreement(Label, Uid, Report(label: "s0:c1,c9")));

    [Fact]
    public void Another_uid_in_the_record_and_a_qemu_running_as_another_uid_are_each_named() =>
        Assert.Equal(
            "uid 100099 on the host, 100024 in the portal; QEMU runs as uid 100099 gid 100024, the portal's record says 100024.",
            VmIsolationCheck.Disagreement(Label, Uid, Report(uid: 100_099, runningUid: 100_099, runningGid: Uid)));

    [Fact]
    public void A_qemu_whose_gid_alone_differs_disagrees() =>
        Assert.Contains("gid 0", VmIsolationCheck.Disagreement(Label, Uid, Report(runningUid: Uid, runningGid: 0)));

    [Fact]
    public void A_record_the_host_could_not_read_is_a_disagreement_in_the_hosts_words() =>
        Assert.Equal(
            "Its record on the host (spec.json) could not be read; it was moved aside.",
            VmIsolationCheck.Disagreement(Label, Uid, Report(label: null, uid: null) with { RecordProblem = "Its record on the host (spec.json) could not be read; it was moved aside." }));
}
