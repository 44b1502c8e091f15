using System.Globalization;
using System.Text;

namespace Paddock.Engine.GuestAgent;

/// <summary>Makes a string the guest wrote safe to show and log: bounded, one line, no hidden characters.</summary>
internal static class GuestAgentText
{
    /// <summary>
    /// <paramref name="text"/> cut to <paramref name="maxChars"/> UTF-16 characters (never inside a
    /// surrogate pair), with every control, format (bidi overrides, zero-width), line or paragraph
    /// separator or private-use character, and every unpaired surrogate, replaced by '?'. Format characters go too
    /// because they can make a name read as another one (CVE-2021-42574, "Trojan Source").
    /// </summary>
    internal static string Clean(string text, int maxChars)
    {
        var cleaned = new StringBuilder(Math.Min(text.Length, maxChars));
        Span<char> utf16 = stackalloc char[2];
        // EnumerateRunes yields U+FFFD for an unpaired surrogate.
        foreach (var rune in text.EnumerateRunes())
        {
            if (cleaned.Length + rune.Utf16SequenceLength > maxChars)
                break;
            if (IsHidden(rune) || rune == Rune.ReplacementChar)
            {
                cleaned.Append('?');
                continue;
            }
            var length = rune.EncodeToUtf16(utf16);
            cleaned.Append(utf16[..length]);
        }
        return cleaned.ToString();
    }

    private static bool IsHidden(Rune rune) => Rune.GetUnicodeCategory(rune) is
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator
        or UnicodeCategory.ParagraphSeparator or UnicodeCategory.PrivateUse;

    /// <summary>The start of a line the guest sent, for an exception's message.</summary>
    internal static string Excerpt(ReadOnlySpan<byte> line) =>
        Clean(Encoding.UTF8.GetString(line[..Math.Min(line.Length, 400)]), 200);
}
