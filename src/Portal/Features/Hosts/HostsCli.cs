using System.Security.Claims;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// <c>hosts join-token [--note TEXT] [--valid-for 24:00:00]</c>: makes a one-time join token for a
/// new host and prints it (the only time it is shown), as the Hosts page's Add host does.
/// </summary>
public static class HostsCli
{
    public static async Task<int> RunAsync(IServiceProvider services, string[] args)
    {
        if (args.FirstOrDefault() != "join-token")
        {
            System.Console.Error.WriteLine("usage: hosts join-token [--note TEXT] [--valid-for HH:MM:SS]");
            return 2;
        }

        var validity = HostEnrollment.DefaultValidity;
        if (Option(args, "--valid-for") is { } text && !TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out validity))
        {
            System.Console.Error.WriteLine($"--valid-for '{text}' is not a time span such as 24:00:00 or 7.00:00:00.");
            return 2;
        }

        try
        {
            var commandLine = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "command line")]));
            System.Console.WriteLine((await services.GetRequiredService<HostEnrollment>().IssueAsync(commandLine, Option(args, "--note"), validity)).Token);
            return 0;
        }
        catch (EnrollmentException e)
        {
            System.Console.Error.WriteLine(e.Message);
            return 1;
        }
    }

    private static string? Option(string[] args, string name)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }
}
