using System.CommandLine;

namespace Paddock.Cli;

/// <summary><c>paddock vm snapshot list|take|revert|delete VM [NAME]</c>.</summary>
public static class SnapshotCommands
{
    private static readonly Argument<string> Name = new("name") { Description = "The snapshot's name." };

    public static Command Build(Argument<string> vm)
    {
        var snapshot = new Command("snapshot", "A VM's snapshots.");
        var list = new Command("list", "The VM's snapshots.") { vm };
        list.Runs(async (parse, client, output, ct) =>
        {
            var shown = await client.GetAsync($"api/vms/{await client.VmIdAsync(parse.GetValue(vm)!, ct)}", ct);
            output.Write(shown.GetProperty("snapshots"), "name", "parent", "takenAt", "withMemory");
        });
        snapshot.Subcommands.Add(list);
        snapshot.Subcommands.Add(Operation(vm, "take", "Takes a snapshot (with the memory of a running VM).", (id, name) => ($"api/vms/{id}/snapshots", new { name }), post: true));
        snapshot.Subcommands.Add(Operation(vm, "revert", "Goes back to a snapshot.", (id, name) => ($"api/vms/{id}/snapshots/{Uri.EscapeDataString(name)}/revert", null), post: true));
        snapshot.Subcommands.Add(Operation(vm, "delete", "Deletes a snapshot.", (id, name) => ($"api/vms/{id}/snapshots/{Uri.EscapeDataString(name)}", null), post: false));
        return snapshot;
    }

    private static Command Operation(Argument<string> vm, string verb, string description, Func<Guid, string, (string Path, object? Body)> call, bool post)
    {
        var command = new Command(verb, description) { vm, Name, CliOptions.Wait };
        command.Runs(async (parse, client, output, ct) =>
        {
            var (path, body) = call(await client.VmIdAsync(parse.GetValue(vm)!, ct), parse.GetValue(Name)!);
            var accepted = post ? await client.PostAsync(path, body, ct) : await client.DeleteAsync(path, ct);
            await CliOptions.OperatedAsync(parse, client, output, accepted, $"snapshot {verb} {parse.GetValue(Name)}", ct);
        });
        return command;
    }
}
