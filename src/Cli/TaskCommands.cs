using System.CommandLine;

namespace Paddock.Cli;

/// <summary><c>paddock task list VM</c>, <c>paddock task show|wait LOCATION</c>: an operation's task, where its 202 pointed.</summary>
public static class TaskCommands
{
    private static readonly string[] Columns = ["operationId", "what", "by", "state", "requestedAt", "finishedAt", "message"];

    public static Command Build()
    {
        var task = new Command("task", "Tasks: what was asked of a VM, and how it ended.");
        var vm = new Argument<string>("vm") { Description = "The VM's id or name." };
        var list = new Command("list", "The VM's tasks, newest first.") { vm };
        list.Runs(async (parse, client, output, ct) => output.Write(await client.GetAsync($"api/vms/{await client.VmIdAsync(parse.GetValue(vm)!, ct)}/tasks", ct), Columns));
        task.Subcommands.Add(list);

        var location = new Argument<string>("location") { Description = "The task's path, as an operation printed it (/api/vms/ID/tasks/OPERATION)." };
        var show = new Command("show", "One task.") { location };
        show.Runs(async (parse, client, output, ct) => output.Write(await client.GetAsync(TaskPath(parse.GetValue(location)!), ct), Columns));
        task.Subcommands.Add(show);

        var wait = new Command("wait", "Waits until the task has ended; a failed task exits 1.") { location };
        wait.Runs(async (parse, client, output, ct) => output.Write(await client.WaitAsync(TaskPath(parse.GetValue(location)!), ct), Columns));
        task.Subcommands.Add(wait);
        return task;
    }

    /// <summary>Only a task's path on the profile's portal: a location naming anything else is a usage error.</summary>
    private static string TaskPath(string location) =>
        System.Text.RegularExpressions.Regex.IsMatch(location, "^/?api/vms/[0-9a-fA-F-]{36}/tasks/[0-9a-fA-F-]{36}$")
            ? location.TrimStart('/')
            : throw new UsageException($"'{location}' is not a task's path (/api/vms/ID/tasks/OPERATION).");
}
