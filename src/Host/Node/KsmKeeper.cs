using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;

namespace Paddock.Host.Node;

/// <summary>
/// Switches KSM by the host's RAM ratio as the portal sends it: on above 1.0, where the kernel
/// allows it and this agent is the one that manages KSM on this machine. It switches KSM off again
/// only if it was the one that switched it on.
/// </summary>
public sealed class KsmKeeper(IOptions<AgentOptions> options, ILogger<KsmKeeper> log)
{
    private readonly Ksm _ksm = new();
    private readonly Lock _lock = new();
    private bool _turnedOn;

    /// <summary>Why KSM is not as the policy wants it, or null.</summary>
    public string? Problem { get; private set; }

    public bool Manages => options.Value.ManageKsm;

    public KsmStatus Read() => _ksm.Read();

    public void Apply(HostSettings settings)
    {
        lock (_lock)
        {
            var want = settings.RamRatio > 1.0;
            if (!Manages)
            {
                Problem = want ? "Another agent on this machine manages KSM (Agent:ManageKsm is off here)." : null;
                return;
            }

            var status = _ksm.Read();
            if (!status.Available)
            {
                Problem = want ? $"The RAM ratio is {settings.RamRatio}, but KSM is not available: {status.Note}" : null;
                return;
            }

            Problem = null;
            if (want && !status.Running)
            {
                Problem = _ksm.Switch(true);
                _turnedOn = Problem is null;
                log.LogInformation("RAM ratio {Ratio}: KSM {Outcome}", settings.RamRatio, Problem ?? "switched on");
            }
            else if (!want && status.Running && _turnedOn)
            {
                Problem = _ksm.Switch(false);
                _turnedOn = Problem is not null;
                log.LogInformation("RAM ratio {Ratio}: KSM {Outcome}", settings.RamRatio, Problem ?? "switched off");
            }
        }
    }
}
