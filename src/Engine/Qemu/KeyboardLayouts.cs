namespace Paddock.Engine.Qemu;

/// <summary>One character's key press: the QEMU key codes (qapi/ui.json QKeyCode) held together, modifiers first, as QMP send-key takes them.</summary>
public sealed record KeyChord(IReadOnlyList<string> Qcodes)
{
    public override string ToString() => string.Join('+', Qcodes);
}

/// <summary>Text that cannot be typed: a character the layout has no key for, or too much of it.</summary>
public sealed class UntypableTextException(string message) : Exception(message);

/// <summary>
/// How text becomes key presses on a guest keyboard layout: which physical key (QEMU names keys by
/// their place on a US keyboard) and which of Shift and AltGr each character needs. The guest must
/// use the same layout for its console, so the layout is a VM setting. Dead keys (a German ^, ´, `)
/// and characters no key makes are refused, not guessed.
/// </summary>
public static class KeyboardLayouts
{
    public const string Us = "en-us";
    public const string German = "de";

    /// <summary>The most characters one typing takes.</summary>
    public const int MaxTextLength = 2000;

    /// <summary>The layouts, by their value and how a person knows them.</summary>
    public static readonly IReadOnlyDictionary<string, string> Names = new Dictionary<string, string>
    {
        [Us] = "English (US)",
        [German] = "German",
    };

    private static readonly Dictionary<string, IReadOnlyDictionary<char, KeyChord>> Tables = new()
    {
        [Us] = UsTable(),
        [German] = GermanTable(),
    };

    /// <summary>The key presses that type <paramref name="text"/> (line ends as Return) on <paramref name="layout"/>.</summary>
    /// <exception cref="UntypableTextException">Empty or too long text, an unknown layout, or a character the layout has no key for.</exception>
    public static IReadOnlyList<KeyChord> Chords(string text, string layout) =>
        Problem(text, layout) is { } problem ? throw new UntypableTextException(problem) : [.. Normalized(text).Select(c => Tables[layout][c])];

    /// <summary>Why <paramref name="text"/> cannot be typed on <paramref name="layout"/>, in a sentence; null when it can.</summary>
    public static string? Problem(string? text, string? layout)
    {
        if (layout is null || !Tables.TryGetValue(layout, out var table))
            return $"Keyboard layout: one of {string.Join(", ", Names.Keys)}.";
        if (string.IsNullOrEmpty(text))
            return "Text: type something.";
        var normalized = Normalized(text);
        if (normalized.Length > MaxTextLength)
            return $"Text: at most {MaxTextLength} characters at a time (this is {normalized.Length}).";
        for (var i = 0; i < normalized.Length; i++)
        {
            if (!table.ContainsKey(normalized[i]))
                return $"Text: {Describe(normalized[i])} (character {i + 1}) has no key on the {Names[layout]} keyboard layout.";
        }

        return null;
    }

    /// <summary>Line ends as one Return each.</summary>
    private static string Normalized(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');

    private static string Describe(char c) => char.IsControl(c) || char.IsWhiteSpace(c) ? $"U+{(int)c:X4}" : $"'{c}'";

    private static Dictionary<char, KeyChord> UsTable()
    {
        var table = Common();
        for (var c = 'a'; c <= 'z'; c++)
            Keys(table, c, char.ToUpperInvariant(c), null, c.ToString());
        Keys(table, "1234567890", "!@#$%^&*()");
        foreach (var (plain, shifted, qcode) in new[]
        {
            ('-', '_', "minus"), ('=', '+', "equal"), ('[', '{', "bracket_left"), (']', '}', "bracket_right"), ('\\', '|', "backslash"),
            (';', ':', "semicolon"), ('\'', '"', "apostrophe"), ('`', '~', "grave_accent"), (',', '<', "comma"), ('.', '>', "dot"), ('/', '?', "slash"),
        })
        {
            Keys(table, plain, shifted, null, qcode);
        }

        return table;
    }

    /// <summary>German (QWERTZ, the ISO key beside the left Shift as <c>less</c>), without its dead keys.</summary>
    private static Dictionary<char, KeyChord> GermanTable()
    {
        var table = Common();
        for (var c = 'a'; c <= 'z'; c++)
            Keys(table, c, char.ToUpperInvariant(c), null, c switch { 'y' => "z", 'z' => "y", _ => c.ToString() });
        Keys(table, "1234567890", "!\"§$%&/()=");
        foreach (var (qcode, altGr) in new[] { ("2", '²'), ("3", '³'), ("7", '{'), ("8", '['), ("9", ']'), ("0", '}'), ("q", '@'), ("e", '€'), ("m", 'µ') })
            table[altGr] = new(["alt_r", qcode]);
        foreach (var (plain, shifted, altGr, qcode) in new (char, char?, char?, string)[]
        {
            ('ß', '?', '\\', "minus"), ('ü', 'Ü', null, "bracket_left"), ('+', '*', '~', "bracket_right"), ('ö', 'Ö', null, "semicolon"),
            ('ä', 'Ä', null, "apostrophe"), ('#', '\'', null, "backslash"), ('<', '>', '|', "less"), (',', ';', null, "comma"),
            ('.', ':', null, "dot"), ('-', '_', null, "slash"),
        })
        {
            Keys(table, plain, shifted, altGr, qcode);
        }

        table['°'] = new(["shift", "grave_accent"]);
        return table;
    }

    private static Dictionary<char, KeyChord> Common() => new()
    {
        [' '] = new(["spc"]),
        ['\n'] = new(["ret"]),
        ['\t'] = new(["tab"]),
    };

    /// <summary>The digit row: each digit plain, the character above it with Shift.</summary>
    private static void Keys(Dictionary<char, KeyChord> table, string digits, string shifted)
    {
        for (var i = 0; i < digits.Length; i++)
            Keys(table, digits[i], shifted[i], null, digits[i].ToString());
    }

    private static void Keys(Dictionary<char, KeyChord> table, char plain, char? shifted, char? altGr, string qcode)
    {
        table[plain] = new([qcode]);
        if (shifted is { } s)
            table[s] = new(["shift", qcode]);
        if (altGr is { } a)
            table[a] = new(["alt_r", qcode]);
    }
}
