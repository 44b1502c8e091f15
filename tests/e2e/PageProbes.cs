using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>What tests read from a browser page beyond its locators, and keys typed into it as a person types them.</summary>
public static class PageProbes
{
    /// <summary>
    /// Records every text the status named <paramref name="label"/> shows from now on, in the page
    /// itself (a state may last less than a poll); the function returns them in order.
    /// </summary>
    public static async Task<Func<Task<string[]>>> WatchStatusAsync(IPage page, string label)
    {
        await page.EvaluateAsync("""
            label => {
                window.__statuses ??= {};
                const seen = window.__statuses[label] = [];
                const record = () => {
                    const chip = document.querySelector(`[role=status][aria-label="${label}"]`);
                    const text = chip && chip.textContent.trim();
                    if (text && seen[seen.length - 1] !== text) seen.push(text);
                };
                record();
                new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
            }
            """, label);
        return () => page.EvaluateAsync<string[]>("label => window.__statuses[label]", label);
    }

    /// <summary>Marks the document: <see cref="AssertNoReloadAsync"/> later proves it is the same one.</summary>
    public static Task MarkAsync(IPage page) => page.EvaluateAsync("window.__paddockMarker = 'no reload'");

    public static async Task AssertNoReloadAsync(IPage page) =>
        Assert.Equal("no reload", await page.EvaluateAsync<string?>("window.__paddockMarker"));

    /// <summary>
    /// Presses Shift for shifted characters as a person does: noVNC sends QEMU scancodes, so a
    /// '$' typed without Shift down reaches the guest as '4'.
    /// </summary>
    public static async Task TypeLikeAPersonAsync(IPage page, string text)
    {
        foreach (var c in text)
        {
            var key = c switch
            {
                '$' => "Shift+Digit4",
                '(' => "Shift+Digit9",
                ')' => "Shift+Digit0",
                '*' => "Shift+Digit8",
                '>' => "Shift+Period",
                '\n' => "Enter",
                ' ' => "Space",
                '/' => "Slash",
                '-' => "Minus",
                _ when char.IsAsciiLetterUpper(c) => $"Shift+Key{c}",
                _ when char.IsAsciiLetterLower(c) => $"Key{char.ToUpperInvariant(c)}",
                _ when char.IsAsciiDigit(c) => $"Digit{c}",
                _ => throw new ArgumentException($"No key for '{c}'."),
            };
            await page.Keyboard.PressAsync(key, new() { Delay = 20 });
        }
    }
}
