namespace Paddock.Portal.Shared;

/// <summary>
/// The API's lists a page at a time: <c>?limit=N</c> (and <c>&amp;after=ID</c> for the next page)
/// answers up to N items in the order of their ids, with a <c>Link: &lt;…&gt;; rel="next"</c> header
/// while more follow. Without either, a list answers whole, as it always did. The portal still
/// reads the whole list to page it; reading pages from the store is the scale work's (issue #24).
/// </summary>
public static class ListPages
{
    public const int MaxLimit = 500;

    /// <summary>What a page of a list says it shows: "No VM matches.", "1 VM", "12 VMs" or "51–100 of 230 VMs".</summary>
    public static string Shown(int page, int pageSize, int onPage, int total, string noun) => total switch
    {
        0 => $"No {noun} matches.",
        1 => $"1 {noun}",
        _ when total <= pageSize => $"{total} {noun}s",
        _ => $"{page * pageSize + 1}–{page * pageSize + onPage} of {total} {noun}s",
    };

    public static IResult Answer<T>(HttpContext http, IEnumerable<T> items, Func<T, Guid> idOf, int? limit, Guid? after)
    {
        if (limit is null && after is null)
        {
            return Results.Ok(items);
        }

        var size = limit ?? MaxLimit;
        if (size is < 1 or > MaxLimit)
        {
            return ApiAnswers.Invalid("limit", $"Limit: from 1 to {MaxLimit} items a page.");
        }

        var page = items.OrderBy(idOf).Where(i => after is not { } cursor || idOf(i).CompareTo(cursor) > 0).Take(size + 1).ToList();
        if (page.Count > size)
        {
            page.RemoveAt(size);
            http.Response.Headers.Link = $"<{http.Request.PathBase}{http.Request.Path}?limit={size}&after={idOf(page[^1])}>; rel=\"next\"";
        }

        return Results.Ok(page);
    }
}
