using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Shared;

public sealed class ListPagerTests
{
    [Fact]
    public void A_new_pager_shows_the_first_page_of_everything()
    {
        var pager = new ListPager { Total = 120 };
        Assert.Equal((0, 0, 50, 3), (pager.Page, pager.Skip, pager.PageSize, pager.Pages));
        Assert.Null(pager.Term);
        Assert.Equal("1–50 of 120 hosts", pager.Shown(50, "host"));
    }

    [Fact]
    public void Looking_for_a_term_trims_it_and_starts_again_from_the_first_page()
    {
        var pager = new ListPager(10) { Total = 35 };
        pager.GoTo(3);
        Assert.Equal((30, "31–35 of 35 VMs"), (pager.Skip, pager.Shown(5, "VM")));
        pager.LookFor("  web ");
        Assert.Equal(("web", 0), (pager.Term, pager.Page));
        pager.LookFor("   ");
        Assert.Null(pager.Term);
    }

    [Fact]
    public void A_list_is_empty_only_when_nothing_matched_and_nothing_was_looked_for()
    {
        var pager = new ListPager();
        Assert.True(pager.Empty);
        pager.LookFor("db");
        Assert.False(pager.Empty);
        Assert.Equal("No host matches.", pager.Shown(0, "host"));
    }

    [Fact]
    public void A_page_before_the_first_is_the_first()
    {
        var pager = new ListPager();
        pager.GoTo(-2);
        Assert.Equal(0, pager.Page);
    }
}
