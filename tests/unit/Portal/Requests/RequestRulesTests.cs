using Paddock.Portal.Features.Requests;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Requests;

public sealed class RequestRulesTests
{
    private static readonly Guid Requester = Guid.NewGuid();
    private static readonly Guid Admin = Guid.NewGuid();
    private static readonly DateTimeOffset At = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static VmRequest Pending() => VmRequest.Create(new RequestSubmitted(
        Guid.NewGuid(), RequestKind.NewVm, Requester, "vera", new NewVm("big", 4, 8192), null, "big", null, "load test",
        ["memory: requested 8192 MiB, in use 0 of 4096 MiB."], At));

    [Fact]
    public void A_pending_request_may_be_approved_or_rejected_by_an_admin_only()
    {
        var request = Pending();

        Assert.Null(RequestRules.Refusal(request, RequestAction.Approve, Admin, isAdmin: true));
        Assert.Null(RequestRules.Refusal(request, RequestAction.Reject, Admin, isAdmin: true));
        Assert.Equal("Only admins approve or reject requests.", RequestRules.Refusal(request, RequestAction.Approve, Requester, isAdmin: false));
    }

    [Fact]
    public void Only_the_requester_may_withdraw()
    {
        Assert.Null(RequestRules.Refusal(Pending(), RequestAction.Withdraw, Requester, isAdmin: false));
        Assert.Equal("Only the person who asked may withdraw a request.", RequestRules.Refusal(Pending(), RequestAction.Withdraw, Admin, isAdmin: true));
    }

    [Theory]
    [InlineData(RequestAction.Approve)]
    [InlineData(RequestAction.Reject)]
    [InlineData(RequestAction.Withdraw)]
    public void A_decided_request_cannot_be_decided_again(RequestAction action)
    {
        var request = Pending();
        request.Apply(new RequestRejected(Admin, "admin", "no budget", At.AddMinutes(5)));

        Assert.Equal("The request is rejected already.",
            RequestRules.Refusal(request, action, action == RequestAction.Withdraw ? Requester : Admin, action != RequestAction.Withdraw));
    }

    [Fact]
    public void The_timeline_records_who_did_what_when_and_why()
    {
        var request = Pending();
        var vmId = Guid.NewGuid();
        request.Apply(new RequestApproved(Admin, "admin", QuotaRaised: true, "ok for a week", vmId, At.AddMinutes(3)));

        Assert.Equal(RequestState.Approved, request.State);
        Assert.Equal(vmId, request.VmId);
        Assert.Equal(
            [("vera", "Submitted", "load test"), ("admin", "Approved, quota raised to fit", "ok for a week"), ("Paddock", "VM created", null)],
            request.Timeline.Select(s => (s.Who, s.What, s.Detail)));
    }

    [Fact]
    public void Justifications_and_rejections_need_words()
    {
        Assert.NotNull(RequestRules.ValidateJustification(" "));
        Assert.NotNull(RequestRules.ValidateRejection(null));
        Assert.NotNull(RequestRules.ValidateJustification(new string('x', RequestRules.MaxTextLength + 1)));
        Assert.Null(RequestRules.ValidateJustification("for the course"));
    }
}
