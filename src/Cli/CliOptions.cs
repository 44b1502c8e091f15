using System.CommandLine;

namespace Paddock.Cli;

/// <summary>The options every command takes, and how a command reaches the portal with them.</summary>
public static class CliOptions
{
    public static readonly Option<string?> Profile = new("--profile") { Description = "The profile to use (default: the current one).", Recursive = true };

    public static readonly Option<OutputFormat> Format = new("--output", "-o") { Description = "table or json.", DefaultValueFactory = _ => OutputFormat.Table, Recursive = true };

    public static readonly Option<bool> Wait = new("--wait") { Description = "Wait until the task has ended; a failed task exits 1." };

    /// <summary>Runs <paramref name="run"/> with a client for the chosen profile and the chosen output.</summary>
    public static void Runs(this Command command, Func<ParseResult, PaddockClient, Output, CancellationToken, Task> run) =>
        command.SetAction(async (parse, ct) =>
        {
            using var client = PaddockClient.For(Profiles.Resolve(parse.GetValue(Profile)));
            await run(parse, client, new Output(parse.GetValue(Format), Console.Out), ct);
            return 0;
        });

    /// <summary>An operation's 202: waits for its task with --wait, and says where it is either way.</summary>
    public static async Task OperatedAsync(ParseResult parse, PaddockClient client, Output output, System.Text.Json.JsonElement accepted, string what, CancellationToken ct)
    {
        var location = accepted.GetProperty("location").GetString()!;
        if (parse.GetValue(Wait))
        {
            output.Say(await client.WaitAsync(location, ct), $"{what}: done.");
        }
        else
        {
            output.Say(accepted, $"{what}: asked; follow it with `paddock task wait {location}`.");
        }
    }
}
