using Microsoft.AspNetCore.SignalR;

namespace Paddock.Portal.Features.Agents;

/// <summary>
/// What an exception in a host's call to the hub answers, by its class as <see cref="ExceptionAnswers"/>
/// decides it for HTTP: a value the store cannot hold, a change that met another one, an unreachable
/// database are told to the host as a <see cref="HubException"/> with the sentence (a warning in the
/// log); anything else stays the portal's own error.
/// </summary>
public sealed class AgentCallAnswers(ILogger<AgentCallAnswers> log) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocationContext);
        }
        catch (Exception e) when (e is not HubException && ExceptionAnswers.Classify(e) is { Status: not StatusCodes.Status500InternalServerError } answer)
        {
            log.LogWarning("Host call {Method} answered {Status}: {Exception}", invocationContext.HubMethodName, answer.Status, e.GetType().Name);
            if (answer.Status == StatusCodes.Status503ServiceUnavailable)
            {
                // What the host said while the store was away (a VM's state, an outcome, its very
                // registration) is not kept: the host is disconnected, dials again and registers with
                // the whole truth once the store is back, and what it was sent is sent again (its
                // journal answers what it finished). Nothing it said meanwhile is lost that way.
                invocationContext.Context.Abort();
            }

            throw new HubException(answer.Title);
        }
    }
}
