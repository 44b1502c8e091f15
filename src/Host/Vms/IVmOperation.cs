using Paddock.Engine.Contract;

namespace Paddock.Host.Vms;

/// <summary>One verb the portal sends, carried out on one VM; the supervisor journals it and reports its outcome.</summary>
public interface IVmOperation
{
    VmVerb Verb { get; }

    /// <summary>Carries the command out; throws with a reason a person can read when it cannot.</summary>
    Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct);
}

/// <summary>How a command ended well: a message for its task, and what it measured.</summary>
public sealed record Outcome(string? Message, OperationResult? Result = null)
{
    /// <summary>Ended well with nothing to say.</summary>
    public static readonly Outcome Done = new(null);

    public static implicit operator Outcome(string? message) => new(message);
}
