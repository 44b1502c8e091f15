using System.CommandLine;

namespace Paddock.Cli;

/// <summary><c>paddock vm …</c>: list, show, create, the power verbs, snapshots, clone and the console's URL.</summary>
public static class VmCommands
{
    private static readonly Argument<string> Vm = new("vm") { Description = "The VM's id or name." };

    private static readonly string[] Columns = ["id", "name", "status", "vCpus", "memoryMiB", "address", "pendingOperation"];

    private static readonly (string Verb, string Description)[] Verbs =
    [
        ("start", "Starts the VM."), ("shutdown", "Asks the guest to shut down (ACPI)."), ("poweroff", "Powers the VM off at once."),
        ("reboot", "Reboots the guest."), ("reset", "Resets the VM, as its reset button."), ("pause", "Pauses the VM's CPUs."), ("resume", "Resumes a paused VM."),
        ("save", "Saves the running VM's memory to disk and stops it."), ("restore", "Starts a saved VM from its saved memory."), ("delete", "Deletes the VM and its disks."),
    ];

    public static Command Build()
    {
        var vm = new Command("vm", "Virtual machines.");
        vm.Subcommands.Add(List());
        vm.Subcommands.Add(Show());
        vm.Subcommands.Add(Create());
        foreach (var (verb, description) in Verbs)
        {
            vm.Subcommands.Add(Power(verb, description));
        }

        vm.Subcommands.Add(SnapshotCommands.Build(Vm));
        vm.Subcommands.Add(Clone());
        vm.Subcommands.Add(Console());
        return vm;
    }

    private static Command List()
    {
        var command = new Command("list", "The VMs you may see.");
        command.Runs(async (_, client, output, ct) => output.Write(await client.GetAsync("api/vms", ct), Columns));
        return command;
    }

    private static Command Show()
    {
        var command = new Command("show", "One VM.") { Vm };
        command.Runs(async (parse, client, output, ct) =>
            output.Write(await client.GetAsync($"api/vms/{await client.VmIdAsync(parse.GetValue(Vm)!, ct)}", ct), [.. Columns, "template", "createdAt", "currentSnapshot"]));
        return command;
    }

    private static Command Create()
    {
        var name = new Option<string>("--name") { Description = "The VM's name.", Required = true };
        var vcpus = new Option<int>("--vcpus") { Description = "vCPUs.", DefaultValueFactory = _ => 1 };
        var memory = new Option<int>("--memory") { Description = "Memory, in MiB.", DefaultValueFactory = _ => 512 };
        var template = new Option<Guid?>("--template") { Description = "The template's id (default: the built-in one)." };
        var disk = new Option<int?>("--disk") { Description = "Disk, in MiB (default: the template's)." };
        var stopped = new Option<bool>("--stopped") { Description = "Make it without starting it." };
        var command = new Command("create", "Makes a VM (and starts it unless --stopped).") { name, vcpus, memory, template, disk, stopped, CliOptions.Wait };
        command.Runs(async (parse, client, output, ct) =>
        {
            var created = await client.PostAsync("api/vms", new
            {
                name = parse.GetValue(name), vCpus = parse.GetValue(vcpus), memoryMiB = parse.GetValue(memory), templateId = parse.GetValue(template),
                diskMiB = parse.GetValue(disk), start = !parse.GetValue(stopped),
            }, ct);
            var id = created.GetProperty("id").GetGuid();
            if (parse.GetValue(CliOptions.Wait))
            {
                await WaitIdleAsync(client, id, ct);
            }

            output.Write(await client.GetAsync($"api/vms/{id}", ct), Columns);
        });
        return command;
    }

    /// <summary>Until the VM's create (or whatever it is doing) has ended.</summary>
    private static async Task WaitIdleAsync(PaddockClient client, Guid id, CancellationToken ct)
    {
        while ((await client.GetAsync($"api/vms/{id}", ct)).GetProperty("pendingOperation").ValueKind != System.Text.Json.JsonValueKind.Null)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }
    }

    private static Command Power(string verb, string description)
    {
        var command = new Command(verb, description) { Vm, CliOptions.Wait };
        command.Runs(async (parse, client, output, ct) =>
        {
            var id = await client.VmIdAsync(parse.GetValue(Vm)!, ct);
            var accepted = await client.PostAsync($"api/vms/{id}/{verb}", null, ct);
            if (verb == "delete" && parse.GetValue(CliOptions.Wait))
            {
                // A deleted VM's tasks go with it: done is when the task ended well or the VM is gone.
                try
                {
                    await client.WaitAsync(accepted.GetProperty("location").GetString()!, ct);
                }
                catch (RefusedException e) when (e.Status == 404)
                {
                    // Gone.
                }

                output.Say(accepted, $"delete {parse.GetValue(Vm)}: done.");
                return;
            }

            await CliOptions.OperatedAsync(parse, client, output, accepted, $"{verb} {parse.GetValue(Vm)}", ct);
        });
        return command;
    }

    private static Command Clone()
    {
        var name = new Argument<string>("name") { Description = "The new VM's name." };
        var command = new Command("clone", "Copies a stopped VM into a new one of yours.") { Vm, name };
        command.Runs(async (parse, client, output, ct) =>
        {
            var id = await client.VmIdAsync(parse.GetValue(Vm)!, ct);
            output.Write(await client.PostAsync($"api/vms/{id}/clone", new { name = parse.GetValue(name) }, ct), "id");
        });
        return command;
    }

    private static Command Console()
    {
        var command = new Command("console", "The URL of the VM's console, to open in a browser (consoles take a signed-in session, not a token).") { Vm };
        command.Runs(async (parse, client, output, ct) =>
        {
            var id = await client.VmIdAsync(parse.GetValue(Vm)!, ct);
            var url = new Uri(client.BaseAddress, $"vms/{id}/console").ToString();
            output.Say(System.Text.Json.JsonSerializer.SerializeToElement(new { url }), url);
        });
        return command;
    }
}
