using System.Linq.Expressions;
using Marten;

namespace Paddock.Portal.Shared;

/// <summary>
/// The API's lists a page at a time: <c>?limit=N</c> (and <c>&amp;after=ID</c> for the next page)
/// answers up to N items in the order of their ids, with a <c>Link: &lt;…&gt;; rel="next"</c> header
/// while more follow. Without either, a list answers whole, as it always did. The lists that grow
/// with the fleet (VMs, requests) read only their page from the store (<see cref="AnswerAsync"/>);
/// the others read the whole list to page it.
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

        if (Refused(limit, out var size) is { } refused)
        {
            return refused;
        }

        return Results.Ok(Cut(http, items.OrderBy(idOf).Where(i => after is not { } cursor || idOf(i).CompareTo(cursor) > 0).Take(size + 1).ToList(), size, idOf));
    }

    /// <summary>
    /// As <see cref="Answer"/>, but a page is read from the store alone, by id (PostgreSQL orders
    /// uuids as .NET orders Guids: byte by byte as they are written); without limit and after, the
    /// list comes <paramref name="whole"/>.
    /// </summary>
    public static async Task<IResult> AnswerAsync<TDoc, TView>(
        HttpContext http, IQueryable<TDoc> query, Expression<Func<TDoc, Guid>> idOf, Func<TDoc, TView> view, int? limit, Guid? after, Func<Task<IEnumerable<TView>>> whole)
        where TDoc : notnull
    {
        if (limit is null && after is null)
        {
            return Results.Ok(await whole());
        }

        if (Refused(limit, out var size) is { } refused)
        {
            return refused;
        }

        if (after is { } cursor)
        {
            query = query.Where(Expression.Lambda<Func<TDoc, bool>>(Expression.GreaterThan(idOf.Body, Expression.Constant(cursor)), idOf.Parameters));
        }

        var page = await query.OrderBy(idOf).Take(size + 1).ToListAsync(http.RequestAborted);
        return Results.Ok(Cut(http, [.. page], size, idOf.Compile()).Select(view));
    }

    /// <summary>The page's size (<see cref="MaxLimit"/> unless a limit is given), or the problem with the limit asked for.</summary>
    private static IResult? Refused(int? limit, out int size)
    {
        size = limit ?? MaxLimit;
        return size is < 1 or > MaxLimit ? ApiAnswers.Invalid("limit", $"Limit: from 1 to {MaxLimit} items a page.") : null;
    }

    /// <summary>Keeps <paramref name="size"/> of the <paramref name="size"/> + 1 items read, and names the next page when there was one more.</summary>
    private static List<T> Cut<T>(HttpContext http, List<T> page, int size, Func<T, Guid> idOf)
    {
        if (page.Count > size)
        {
            page.RemoveAt(size);
            http.Response.Headers.Link = $"<{http.Request.PathBase}{http.Request.Path}?limit={size}&after={idOf(page[^1])}>; rel=\"next\"";
        }

        return page;
    }
}
