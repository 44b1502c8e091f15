using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;

namespace Paddock.Engine.Recipes;

/// <summary>
/// Types key presses into a guest through QMP <c>send-key</c>, one character at a time at
/// <see cref="CharactersPerSecond"/>: QEMU queues what it is sent, and a guest under TCG empties its
/// keyboard's queue slowly, so faster would lose keys. Each press is held <see cref="HoldTime"/>.
/// </summary>
public static class TextTyping
{
    public const int CharactersPerSecond = 25;

    public static readonly TimeSpan HoldTime = TimeSpan.FromMilliseconds(15);

    private static readonly TimeSpan Pace = TimeSpan.FromSeconds(1.0 / CharactersPerSecond);

    /// <summary>Types <paramref name="chords"/>; <paramref name="typed"/> hears how many are sent so far. Stops between two characters when <paramref name="ct"/> is cancelled.</summary>
    public static async Task TypeAsync(QmpClient qmp, IReadOnlyList<KeyChord> chords, Action<int> typed, CancellationToken ct)
    {
        for (var i = 0; i < chords.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            await qmp.SendKeyAsync(chords[i].Qcodes, ct, QmpCommands.Brief, HoldTime).ConfigureAwait(false);
            typed(i + 1);
            await Task.Delay(Pace, ct).ConfigureAwait(false);
        }
    }
}
