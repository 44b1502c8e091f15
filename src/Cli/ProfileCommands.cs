using System.CommandLine;
using System.Text.Json;

namespace Paddock.Cli;

/// <summary><c>paddock profile add|list|use</c>: which portal, as whom.</summary>
public static class ProfileCommands
{
    public static Command Build()
    {
        var profile = new Command("profile", $"Portals and tokens, kept in {Profiles.FilePath}.");
        var name = new Argument<string>("name") { Description = "The profile's name." };
        var url = new Option<string>("--url") { Description = "The portal, for example https://paddock.example:8443.", Required = true };
        var token = new Option<string>("--token") { Description = "An API token (pdk_…) from the portal's API tokens page.", Required = true };
        var fingerprint = new Option<string?>("--fingerprint") { Description = "The portal certificate's SHA-256 (hex), for a self-signed portal." };

        var add = new Command("add", "Adds (or replaces) a profile and makes it the current one.") { name, url, token, fingerprint };
        add.SetAction(parse =>
        {
            var file = Profiles.Load();
            if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var portal) || portal.Scheme is not ("https" or "http"))
            {
                throw new UsageException($"--url: an http or https address, not '{parse.GetValue(url)}'.");
            }

            file.Profiles[parse.GetValue(name)!] = new Profile(portal.ToString(), parse.GetValue(token)!, parse.GetValue(fingerprint));
            Profiles.Save(file with { Current = parse.GetValue(name) });
            Console.WriteLine($"Profile '{parse.GetValue(name)}' saved and current.");
            return 0;
        });

        var list = new Command("list", "The profiles (never their tokens).");
        list.SetAction(parse =>
        {
            var file = Profiles.Load();
            var rows = file.Profiles.Select(p => new { name = p.Key, url = p.Value.Url, current = p.Key == file.Current ? "*" : "" });
            new Output(parse.GetValue(CliOptions.Format), Console.Out).Write(JsonSerializer.SerializeToElement(rows), "name", "url", "current");
            return 0;
        });

        var use = new Command("use", "Makes a profile the current one.") { name };
        use.SetAction(parse =>
        {
            var file = Profiles.Load();
            var chosen = parse.GetValue(name)!;
            Profiles.Save(file.Profiles.ContainsKey(chosen) ? file with { Current = chosen } : throw new UsageException($"No profile named '{chosen}'."));
            return 0;
        });

        profile.Subcommands.Add(add);
        profile.Subcommands.Add(list);
        profile.Subcommands.Add(use);
        return profile;
    }
}
