using Microsoft.Extensions.Options;

namespace Paddock.Host.Portal;

/// <summary>The host's id, made once and kept in the agent's state directory so a restart is the same host.</summary>
public sealed class HostIdentity
{
    public HostIdentity(IOptions<AgentOptions> options)
    {
        var file = Path.Combine(options.Value.StateDir, "host-id");
        if (File.Exists(file) && Guid.TryParse(File.ReadAllText(file).Trim(), out var id))
        {
            Id = id;
            return;
        }

        Directory.CreateDirectory(options.Value.StateDir);
        Id = Guid.NewGuid();
        File.WriteAllText(file, Id.ToString());
    }

    public Guid Id { get; }
}
