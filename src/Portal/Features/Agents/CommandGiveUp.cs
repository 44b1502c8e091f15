using Paddock.Engine.Contract;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Agents;

/// <summary>
/// When the portal stops waiting for a command's host: no task stays "in progress" for ever. A host
/// that is gone (revoked, or no longer known) fails its open commands at once; a host that is away
/// fails them once it has been away for <see cref="PortalOptions.GiveUpAfter"/>. A connected host's
/// commands are never given up here: it is carrying them out, and its own timeouts bound each one.
/// </summary>
public static class CommandGiveUp
{
    /// <summary>Why <paramref name="command"/> ends as failed now, in a sentence; null while its host may still carry it out.</summary>
    public static string? Reason(AgentCommand command, HostRecord? host, DateTimeOffset now, TimeSpan limit)
    {
        // Only the destination can say whether a moved guest already runs there: it is asked again when it returns.
        if (command.Finished || command.Command.Verb == VmVerb.FinishMigration)
        {
            return null;
        }

        var what = command.Command.Verb.ToString();
        if (host is null)
        {
            return $"Its host is no longer known to the portal: {what} was not carried out.";
        }

        if (host.Revoked)
        {
            return $"Its host {host.Name} was revoked: {what} was not carried out.";
        }

        if (host.Connected || now - host.LastSeenAt < limit || now - command.CreatedAt < limit)
        {
            return null;
        }

        var minutes = limit.TotalMinutes >= 1 ? $"{limit.TotalMinutes:0.#} minutes" : $"{limit.TotalSeconds:0} seconds";
        return command.State == AgentCommandState.Pending
            ? $"Its host {host.Name} has been away for more than {minutes}: {what} was never sent to it and is given up."
            : $"Its host {host.Name} went away before saying how {what} ended and has not come back within {minutes}; the VM shows its state again once the host returns.";
    }
}
