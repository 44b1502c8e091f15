using System.Text.RegularExpressions;
using Paddock.Engine.Contract;
using Paddock.Engine.Qmp;

namespace Paddock.Host.Vms.Operations;

/// <summary>Presses keys together on the VM's keyboard (Ctrl-Alt-Del, Ctrl-Alt-F1, SysRq...).</summary>
public sealed partial class SendKeys : IVmOperation
{
    public VmVerb Verb => VmVerb.SendKeys;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var keys = command.Keys ?? [];
        if (keys.Count is 0 or > 8 || keys.Any(k => !QcodePattern().IsMatch(k)))
        {
            throw new InvalidOperationException("Keys must be 1 to 8 QEMU key codes such as ctrl, alt, delete, f1.");
        }

        await vm.RunningMonitor().SendKeyAsync(keys);
        return Outcome.Done;
    }

    [GeneratedRegex("^[a-z0-9_]{1,16}$")]
    private static partial Regex QcodePattern();
}
