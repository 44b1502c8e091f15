namespace Paddock.Portal.Shared;

/// <summary>
/// Where a page of a list stands: which page it shows, what its Find box holds, and how many items
/// matched in all. The page's query reads <see cref="Skip"/> and <see cref="PageSize"/> items
/// (those whose name holds <see cref="Term"/>) and sets <see cref="Total"/>; <see cref="PagedList"/>
/// draws the Find box, what is shown and the page buttons.
/// </summary>
public sealed class ListPager(int pageSize = ListPager.DefaultPageSize)
{
    /// <summary>Items a page: at a thousand rows a table took seconds to render, again on every change.</summary>
    public const int DefaultPageSize = 50;

    public int PageSize { get; } = pageSize;

    /// <summary>From 0.</summary>
    public int Page { get; private set; }

    public string? Find { get; private set; }

    public int Total { get; set; }

    /// <summary>What the Find box holds, trimmed; null when it holds nothing.</summary>
    public string? Term => string.IsNullOrWhiteSpace(Find) ? null : Find.Trim();

    public int Skip => Page * PageSize;

    public int Pages => (Total + PageSize - 1) / PageSize;

    /// <summary>Nothing matched and nothing was looked for: the list itself is empty.</summary>
    public bool Empty => Total == 0 && Term is null;

    /// <summary>"No host matches.", "1 host", "12 hosts" or "51–100 of 230 hosts".</summary>
    public string Shown(int onPage, string noun) => ListPages.Shown(Page, PageSize, onPage, Total, noun);

    /// <summary>Looks for another term, from the first page.</summary>
    public void LookFor(string? find) => (Find, Page) = (find, 0);

    /// <summary>Goes to page <paramref name="page"/>, counted from 0.</summary>
    public void GoTo(int page) => Page = Math.Max(0, page);
}
