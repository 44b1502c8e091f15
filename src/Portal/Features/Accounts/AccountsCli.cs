namespace Paddock.Portal.Features.Accounts;

/// <summary>
/// <c>accounts ensure-admin --user NAME</c>: creates the first admin once with a generated password and
/// prints it (the only time it is shown); prints nothing when an admin exists.
/// <c>accounts add --user NAME [--user NAME ...] [--role member|admin]</c>: creates the accounts; the
/// password (the same for each) is read from standard input when given there, otherwise generated for
/// each and printed.
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
                    await AddAsync(accounts, args);
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

    /// <summary>Each <c>--user</c> named, with the role given; one generated password is printed alone, several each after its user.</summary>
    private static async Task AddAsync(Accounts accounts, string[] args)
    {
        var users = Options(args, "--user");
        _ = Required(users.FirstOrDefault(), "--user");
        var typed = TypedPassword();
        var generated = typed is null;
        foreach (var name in users)
        {
            var password = typed ?? Accounts.GeneratePassword();
            await accounts.CreateAsync(name, password, Option(args, "--role") ?? Roles.Member);
            if (generated)
            {
                System.Console.WriteLine(users.Count == 1 ? $"password={password}" : $"user={name} password={password}");
            }
        }
    }

    /// <summary>The password given on standard input; null when none was.</summary>
    private static string? TypedPassword()
    {
        var typed = System.Console.IsInputRedirected ? System.Console.In.ReadLine()?.Trim() : null;
        return string.IsNullOrEmpty(typed) ? null : typed;
    }

    private static (string Password, bool Generated) PasswordFromInput() =>
        TypedPassword() is { } typed ? (typed, false) : (Accounts.GeneratePassword(), true);

    /// <summary>Every value given after <paramref name="name"/>.</summary>
    private static List<string> Options(string[] args, string name) =>
        [.. args.Select((arg, at) => (arg, at)).Where(a => a.arg == name && a.at + 1 < args.Length).Select(a => args[a.at + 1])];

    private static string? Option(string[] args, string name) => Options(args, name).FirstOrDefault();

    private static string Required(string? value, string name) =>
        value ?? throw new AccountException($"{name} is required.");
}
