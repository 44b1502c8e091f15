using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Shared;

public sealed class ListPagesTests
{
    private static readonly Guid[] Ids = [.. Enumerable.Range(1, 5).Select(i => new Guid($"00000000-0000-0000-0000-00000000000{i}")).Reverse()];

    private static (IReadOnlyList<Guid> Items, string? Next) Page(int? limit, Guid? after)
    {
        var http = new DefaultHttpContext();
        http.Request.Path = "/api/vms";
        var answer = Assert.IsType<Ok<List<Guid>>>(ListPages.Answer(http, Ids, id => id, limit, after));
        return (answer.Value!, http.Response.Headers.Link.ToString() is { Length: > 0 } link ? link : null);
    }

    [Fact]
    public void Without_a_limit_or_a_cursor_the_list_comes_whole_as_it_was() =>
        Assert.Same(Ids, Assert.IsType<Ok<IEnumerable<Guid>>>(ListPages.Answer(new DefaultHttpContext(), Ids, id => id, null, null)).Value);

    [Fact]
    public void Pages_follow_each_other_by_id_until_the_last_names_no_next()
    {
        var (first, next) = Page(2, null);
        Assert.Equal([Ids[4], Ids[3]], first);
        Assert.Equal($"</api/vms?limit=2&after={Ids[3]}>; rel=\"next\"", next);
        var (second, _) = Page(2, Ids[3]);
        Assert.Equal([Ids[2], Ids[1]], second);
        var (last, none) = Page(2, Ids[1]);
        Assert.Equal([Ids[0]], last);
        Assert.Null(none);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(ListPages.MaxLimit + 1)]
    public void A_limit_out_of_range_is_refused_naming_it(int limit) =>
        Assert.Equal(422, Assert.IsAssignableFrom<IStatusCodeHttpResult>(ListPages.Answer(new DefaultHttpContext(), Ids, id => id, limit, null)).StatusCode);

    [Theory]
    [InlineData(0, 0, 0, "No VM matches.")]
    [InlineData(0, 1, 1, "1 VM")]
    [InlineData(0, 12, 12, "12 VMs")]
    [InlineData(0, 50, 50, "50 VMs")]
    [InlineData(0, 50, 51, "1–50 of 51 VMs")]
    [InlineData(1, 1, 51, "51–51 of 51 VMs")]
    [InlineData(2, 50, 230, "101–150 of 230 VMs")]
    public void A_page_says_which_part_of_how_many_it_shows(int page, int onPage, int total, string shown) =>
        Assert.Equal(shown, ListPages.Shown(page, 50, onPage, total, "VM"));
}
