using System.CommandLine;
using Paddock.Cli;

// paddock: the portal's API from a shell. Exit codes: 0 done, 1 the portal refused (its problem
// printed), 2 the command line was wrong.
var root = new RootCommand("Paddock: VMs, images, requests and tasks through the portal's API.");
root.Options.Add(CliOptions.Profile);
root.Options.Add(CliOptions.Format);
root.Subcommands.Add(ProfileCommands.Build());
root.Subcommands.Add(VmCommands.Build());
root.Subcommands.Add(ImageCommands.Build());
root.Subcommands.Add(RequestCommands.Build());
root.Subcommands.Add(TaskCommands.Build());

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine(error.Message);
    }

    Console.Error.WriteLine("See `paddock --help`.");
    return 2;
}

try
{
    // Refusals and usage errors are ours to print (and to give their exit codes), not a stack trace.
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (UsageException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
catch (Paddock.Cli.RefusedException e)
{
    Console.Error.WriteLine($"{e.Status}: {e.Message}");
    foreach (var (field, problems) in e.Errors)
    {
        Console.Error.WriteLine($"  {field}: {string.Join(" ", problems)}");
    }

    return 1;
}
catch (HttpRequestException e)
{
    Console.Error.WriteLine($"The portal cannot be reached: {e.Message}");
    return 1;
}
