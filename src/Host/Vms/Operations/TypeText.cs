using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Engine.Recipes;

namespace Paddock.Host.Vms.Operations;

/// <summary>Types a text into the VM's keyboard on its layout (<see cref="TextTyping"/>); StopTyping ends it between two characters.</summary>
public sealed class TypeText(VmTyping typing, Portal.IPortalReporter portal, TimeProvider clock) : IVmOperation
{
    public VmVerb Verb => VmVerb.TypeText;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var chords = KeyboardLayouts.Chords(command.Text ?? "", command.Layout ?? KeyboardLayouts.Us);
        var typed = 0;
        var progress = new WorkReporter(portal, command, clock);
        try
        {
            var (turn, stopped) = await typing.TurnAsync(vm.Id, ct);
            using (turn)
                await TextTyping.TypeAsync(vm.RunningMonitor(), chords, n => progress.Report(new WorkDone(typed = n, chords.Count, WorkDone.Characters)), stopped);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new InvalidOperationException($"Stopped after {typed} of {chords.Count} characters.");
        }

        return $"Typed {chords.Count} characters.";
    }
}
