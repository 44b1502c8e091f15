using System.CommandLine;

namespace Paddock.Cli;

/// <summary><c>paddock request list|show|create|withdraw</c>: asking an admin for what quota or policy does not allow.</summary>
public static class RequestCommands
{
    private static readonly string[] Columns = ["id", "kind", "state", "summary", "submittedAt", "decision"];

    public static Command Build()
    {
        var request = new Command("request", "Requests to the admins.");
        var list = new Command("list", "Your requests (admins: everyone's).");
        list.Runs(async (_, client, output, ct) => output.Write(await client.GetAsync("api/requests", ct), Columns));
        request.Subcommands.Add(list);

        var id = new Argument<Guid>("id") { Description = "The request's id." };
        var show = new Command("show", "One request.") { id };
        show.Runs(async (parse, client, output, ct) => output.Write(await client.GetAsync($"api/requests/{parse.GetValue(id)}", ct), [.. Columns, "justification", "reasons"]));
        request.Subcommands.Add(show);

        var withdraw = new Command("withdraw", "Withdraws your pending request.") { id };
        withdraw.Runs(async (parse, client, output, ct) => output.Write(await client.PostAsync($"api/requests/{parse.GetValue(id)}/withdraw", null, ct), "id"));
        request.Subcommands.Add(withdraw);
        request.Subcommands.Add(Create());
        return request;
    }

    private static Command Create()
    {
        var name = new Option<string>("--name") { Description = "The VM's name.", Required = true };
        var vcpus = new Option<int>("--vcpus") { DefaultValueFactory = _ => 1 };
        var memory = new Option<int>("--memory") { Description = "MiB.", DefaultValueFactory = _ => 512 };
        var why = new Option<string>("--justification") { Description = "Why you need it.", Required = true };
        var command = new Command("create", "Asks for a VM beyond your quota or the policy.") { name, vcpus, memory, why };
        command.Runs(async (parse, client, output, ct) => output.Write(await client.PostAsync("api/requests", new
        {
            vm = new { name = parse.GetValue(name), vCpus = parse.GetValue(vcpus), memoryMiB = parse.GetValue(memory) },
            justification = parse.GetValue(why),
        }, ct), "id"));
        return command;
    }
}
