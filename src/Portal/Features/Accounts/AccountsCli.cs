namespace Paddock.Portal.Features.Accounts;

/// <summary>
/// <c>accounts ensure-admin --user NAME</c>: creates the first admin once with a generated password and
/// prints it (the only time it is shown); prints nothing when an admin exists.
/// <c>accounts add --user NAME [--role member|admin]</c>: creates an account; the password is read from
/// standard input when given there, otherwise generated and printed.
/// <c>accounts set-password --user NAME</c>: password from standard input, or generated and printed.
/// </summary>
public static class AccountsCli
{
    public static async Task<int> RunAsync(IServiceProvider services, string[] args)
    {
        var accounts = services.GetRequiredService<Accounts>();
        var verb = args.FirstOrDefault() ?? "";
        var user = Option(args, "--user");
        try
        {
            switch (verb)
            {
                case "ensure-admin":
                    if (await accounts.AnyAdminAsync())
                    {
                        return 0;
                    }

                    var adminPassword = Accounts.GeneratePassword();
                    await accounts.CreateAsync(user ?? "admin", adminPassword, Roles.Admin);
                    System.Console.WriteLine($"user={user ?? "admin"}");
                    System.Console.WriteLine($"password={adminPassword}");
                    return 0;
                case "add":
                    var (password, generated) = PasswordFromInput();
                    await accounts.CreateAsync(Required(user, "--user"), password, Option(args, "--role") ?? Roles.Member);
                    if (generated)
                    {
                        System.Console.WriteLine($"password={password}");
                    }

                    return 0;
                case "set-password":
                    var (newPassword, newGenerated) = PasswordFromInput();
                    await accounts.SetPasswordAsync(Required(user, "--user"), newPassword);
                    if (newGenerated)
                    {
                        System.Console.WriteLine($"password={newPassword}");
                    }

                    return 0;
                default:
                    System.Console.Error.WriteLine("usage: accounts ensure-admin|add|set-password --user NAME [--role member|admin]");
                    return 2;
            }
        }
        catch (AccountException e)
        {
            System.Console.Error.WriteLine(e.Message);
            return 1;
        }
    }

    private static (string Password, bool Generated) PasswordFromInput()
    {
        var typed = System.Console.IsInputRedirected ? System.Console.In.ReadLine()?.Trim() : null;
        return string.IsNullOrEmpty(typed) ? (Accounts.GeneratePassword(), true) : (typed, false);
    }

    private static string? Option(string[] args, string name)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    private static string Required(string? value, string name) =>
        value ?? throw new AccountException($"{name} is required.");
}
