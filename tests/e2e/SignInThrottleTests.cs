using System.Net;
using Microsoft.Playwright;
using Npgsql;

namespace Paddock.E2e;

[Collection(PaddockCollection.Name)]
public sealed class SignInThrottleTests(PaddockFixture paddock)
{
    // The fixture's limit: locked at the fifth failure.
    private const int LockAt = 5;

    private const string User = PaddockFixture.Gus;

    [Fact]
    public async Task Thirty_guesses_at_once_through_two_portal_processes_evaluate_no_more_passwords_than_the_limit_and_the_lock_refuses_the_right_one()
    {
        var second = await paddock.StartSecondPortalAsync();
        // One client (its own connection, already open) per guess, half on each portal process.
        var guessers = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => Guesser.OpenAsync(paddock, i % 2 == 0 ? paddock.PortalUrl : second)));

        // 30 wrong guesses at once: each is counted before its hash, so the third at once already
        // finds the account slowed down (and a burst the machine spreads over seconds, at most locked).
        // Counted after the hash, as before, all 30 were evaluated.
        var first = await GuessAtOnceAsync(guessers, [.. Enumerable.Range(0, 30).Select(i => $"wrong-guess-{i:00}")]);
        Assert.InRange(first.Count(o => o == Outcome.Failed), 1, LockAt);
        Assert.All(first, o => Assert.True(o is Outcome.Failed or Outcome.Wait or Outcome.Locked, $"{o}"));
        Assert.Equal(first.Count(o => o == Outcome.Failed), await EvaluatedAsync());

        // More bursts, as soon as each is allowed, until the account locks: the fifth evaluated guess locks it.
        await Eventually.Async(
            async () => (await GuessAtOnceAsync(guessers, [.. Enumerable.Range(0, 12).Select(i => $"wrong-again-{i:00}")])).Contains(Outcome.Locked),
            TimeSpan.FromSeconds(60), "the lock");
        Assert.Equal(LockAt, await EvaluatedAsync());

        // Locked: 30 more at once with the right password in the middle; none is tried, none signs in.
        string[] locked = [.. Enumerable.Range(0, 30).Select(i => i == 15 ? paddock.Password : $"wrong-when-locked-{i:00}")];
        Assert.All(await GuessAtOnceAsync(guessers, locked), o => Assert.Equal(Outcome.Locked, o));
        Assert.Equal(LockAt, await EvaluatedAsync());

        // The admin lifts the lock; then the right password signs in.
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        await admin.GotoAsync("/admin/users");
        await PaddockFixture.InteractiveAsync(admin);
        await admin.GetByRole(AriaRole.Button, new() { Name = $"Lift the lock on user:{User}" }).ClickAsync();
        await Eventually.Async(
            async () => await guessers[1].GuessAsync(User, paddock.Password) == Outcome.SignedIn,
            TimeSpan.FromSeconds(30), "the right password to sign in once the lock is lifted");
        Assert.Equal(LockAt, await EvaluatedAsync());
        await admin.Context.CloseAsync();
        foreach (var guesser in guessers)
        {
            guesser.Dispose();
        }
    }

    [Fact]
    public async Task An_address_that_posts_the_sign_in_form_too_often_is_answered_429_with_a_problem_and_retry_after()
    {
        // A process of its own with a limit low enough to reach; the fixture's portal has it out of the way.
        var portal = await paddock.StartSecondPortalAsync(new Dictionary<string, string> { ["Paddock__SignIn__AddressPostsPerMinute"] = "3" });
        using var guesser = await Guesser.OpenAsync(paddock, portal);
        var outcomes = new List<Outcome>();
        for (var i = 0; i < 4; i++)
        {
            outcomes.Add(await guesser.GuessAsync("nobody-floods", $"flood-{i}"));
        }

        Assert.Equal([Outcome.Failed, Outcome.Failed, Outcome.Failed, Outcome.TooManyRequests], outcomes);
        using var refused = await guesser.PostAsync("nobody-floods", "flood-again");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.InRange(refused.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
        Assert.Contains("Too many sign-in attempts from this address.", await refused.Content.ReadAsStringAsync());
    }

    /// <summary>Every password posted at the same moment, spread over the guessers (their connections and portals).</summary>
    private static async Task<Outcome[]> GuessAtOnceAsync(IReadOnlyList<Guesser> guessers, IReadOnlyList<string> passwords)
    {
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var guesses = passwords.Select(async (password, i) =>
        {
            await go.Task;
            return await guessers[i % guessers.Count].GuessAsync(User, password);
        }).ToArray();
        go.SetResult();
        return await Task.WhenAll(guesses);
    }

    /// <summary>Guesses whose password was hashed and found wrong: the portal audits each one, once.</summary>
    private async Task<long> EvaluatedAsync()
    {
        await using var db = new NpgsqlConnection(paddock.Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from paddock.mt_doc_auditentry where data->>'Actor' = @user and data->>'Kind' = 'SignInFailed'", db);
        command.Parameters.AddWithValue("user", User);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private enum Outcome
    {
        SignedIn,
        Failed,
        Wait,
        Locked,
        TooManyRequests,
    }

    /// <summary>An HTTP client holding one sign-in form's anti-forgery token and cookie, posting as a script would.</summary>
    private sealed class Guesser(HttpClient http, string token) : IDisposable
    {
        public static async Task<Guesser> OpenAsync(PaddockFixture paddock, string portal)
        {
            var http = paddock.NewHttpClient();
            http.BaseAddress = new Uri(portal);
            var form = await http.GetStringAsync("/account/login");
            return new Guesser(http, PaddockFixture.FormToken(form));
        }

        public Task<HttpResponseMessage> PostAsync(string user, string password) =>
            http.PostAsync("/account/login", PaddockFixture.SignInForm(token, user, password));

        public async Task<Outcome> GuessAsync(string user, string password)
        {
            using var response = await PostAsync(user, password);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                return Outcome.TooManyRequests;
            }

            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            var location = response.Headers.Location!.OriginalString;
            return location switch
            {
                "/" => Outcome.SignedIn,
                _ when location.Contains("failed=1", StringComparison.Ordinal) => Outcome.Failed,
                _ when location.Contains("locked=", StringComparison.Ordinal) => Outcome.Locked,
                _ when location.Contains("wait=", StringComparison.Ordinal) => Outcome.Wait,
                _ => throw new InvalidOperationException($"Unexpected sign-in answer: {location}"),
            };
        }

        public void Dispose() => http.Dispose();
    }
}
