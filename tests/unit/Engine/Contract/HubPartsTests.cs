using System.Text.Json;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;

namespace Paddock.Unit.Engine.Contract;

/// <summary>A host's lists that grow with its VMs go to the hub in parts small enough for its limit, every item once and in order.</summary>
public sealed class HubPartsTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private static VmUsage Vm(int i, GuestReport? guest = null) => new(new Guid(i, 0, 0, new byte[8]), 48L << 20, i, 1000 + i, 1000 + i, 2, new VmIo(1, 2, 3, 4), guest);

    [Fact]
    public void Five_hundred_vms_go_in_parts_under_the_budget_each_vm_once_in_order()
    {
        var vms = Enumerable.Range(0, 500).Select(i => Vm(i)).ToList();
        var parts = HubParts.Split(vms);
        Assert.True(parts.Count > 1);
        Assert.All(parts, p => Assert.True(JsonSerializer.SerializeToUtf8Bytes(p, Web).Length <= HubParts.PartBytes));
        Assert.Equal(vms, parts.SelectMany(p => p));
    }

    [Fact]
    public void A_usage_report_in_parts_keeps_the_hosts_figures_in_each_and_numbers_them()
    {
        var usage = new HostUsage(1, 2, [.. Enumerable.Range(0, 500).Select(i => Vm(i))], new KsmStatus(false, false, 0, 0, 0, null), DateTimeOffset.UnixEpoch, false);
        var parts = HubParts.Split(usage);
        Assert.Equal(Enumerable.Range(0, parts.Count), parts.Select(p => p.Part));
        Assert.All(parts, p => Assert.Equal((parts.Count, usage.At, usage.RssBytes), (p.Parts, p.At, p.RssBytes)));
        Assert.All(parts, p => Assert.True(JsonSerializer.SerializeToUtf8Bytes(p, Web).Length < HubParts.MaxMessageBytes));
        Assert.Equal(usage.Vms, parts.SelectMany(p => p.Vms));
    }

    [Fact]
    public void A_vm_larger_than_a_part_goes_alone_and_still_fits_the_hubs_limit()
    {
        var text = new string('x', GuestReport.MaxText);
        var nics = Enumerable.Range(0, GuestReport.MaxNics).Select(_ => new GuestNic(text, text, [.. Enumerable.Repeat(text, GuestReport.MaxAddresses)])).ToList();
        var largest = Vm(1, new GuestReport(true, text, text, nics));
        var parts = HubParts.Split([Vm(0), largest, Vm(2)]);
        Assert.Equal([[Vm(0)], [largest], [Vm(2)]], parts.Select(p => p.ToList()));
        Assert.True(JsonSerializer.SerializeToUtf8Bytes(largest, Web).Length < HubParts.MaxMessageBytes);
    }

    [Fact]
    public void No_vm_is_one_empty_part()
    {
        var parts = HubParts.Split(Array.Empty<VmUsage>());
        Assert.Single(parts);
        Assert.Empty(parts[0]);
    }
}
