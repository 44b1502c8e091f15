using Paddock.Engine.Qemu;

namespace Paddock.Unit.Engine.Qemu;

/// <summary>Text as key presses: which key and which of Shift and AltGr each character takes on each layout, and what is refused.</summary>
public sealed class KeyboardLayoutsTests
{
    private static string Typed(string text, string layout) => string.Join(' ', KeyboardLayouts.Chords(text, layout));

    [Fact]
    public void The_issues_line_on_a_us_keyboard_shifts_what_sits_above_a_key()
    {
        Assert.Equal(
            "e c h o spc shift+4 shift+9 shift+9 6 shift+8 7 shift+0 shift+0 spc shift+apostrophe shift+q u o t e d shift+apostrophe spc shift+backslash spc "
            + "t r spc a minus z spc shift+a minus shift+z ret",
            Typed("echo $((6*7)) \"Quoted\" | tr a-z A-Z\n", KeyboardLayouts.Us));
    }

    [Theory]
    [InlineData("`~-_=+[{]}\\|;:'\",<.>/?", "grave_accent shift+grave_accent minus shift+minus equal shift+equal bracket_left shift+bracket_left bracket_right shift+bracket_right backslash shift+backslash semicolon shift+semicolon apostrophe shift+apostrophe comma shift+comma dot shift+dot slash shift+slash")]
    [InlineData("!@#%^&", "shift+1 shift+2 shift+3 shift+5 shift+6 shift+7")]
    [InlineData("a\tb\r\nc\rd", "a tab b ret c ret d")]
    public void Every_printable_ascii_character_has_its_us_key(string text, string keys) =>
        Assert.Equal(keys, Typed(text, KeyboardLayouts.Us));

    [Fact]
    public void Every_printable_ascii_character_is_typable_on_both_layouts_but_the_german_dead_keys()
    {
        var ascii = new string([.. Enumerable.Range(32, 95).Select(i => (char)i)]);
        Assert.Null(KeyboardLayouts.Problem(ascii, KeyboardLayouts.Us));
        Assert.Null(KeyboardLayouts.Problem(ascii.Replace("^", "").Replace("`", ""), KeyboardLayouts.German));
        Assert.Equal("Text: '^' (character 1) has no key on the German keyboard layout.", KeyboardLayouts.Problem("^", KeyboardLayouts.German));
    }

    [Fact]
    public void A_german_keyboard_swaps_y_and_z_and_reaches_at_and_braces_with_altgr()
    {
        Assert.Equal("y shift+z alt_r+q alt_r+7 alt_r+0 shift+7 slash shift+0 semicolon shift+bracket_left less shift+less alt_r+less", Typed("zY@{}/-=öÜ<>|", KeyboardLayouts.German));
    }

    [Theory]
    [InlineData("", "en-us", "Text: type something.")]
    [InlineData(null, "en-us", "Text: type something.")]
    [InlineData("héllo", "en-us", "Text: 'é' (character 2) has no key on the English (US) keyboard layout.")]
    [InlineData("a\u0000b", "en-us", "Text: U+0000 (character 2) has no key on the English (US) keyboard layout.")]
    [InlineData("a", "fr", "Keyboard layout: one of en-us, de.")]
    [InlineData("a", null, "Keyboard layout: one of en-us, de.")]
    public void What_cannot_be_typed_is_said_in_a_sentence(string? text, string? layout, string problem)
    {
        Assert.Equal(problem, KeyboardLayouts.Problem(text, layout));
        Assert.Equal(problem, Assert.Throws<UntypableTextException>(() => KeyboardLayouts.Chords(text!, layout!)).Message);
    }

    [Fact]
    public void At_most_two_thousand_characters_a_time_line_ends_counted_once()
    {
        Assert.Null(KeyboardLayouts.Problem(new string('a', 2000), KeyboardLayouts.Us));
        Assert.Null(KeyboardLayouts.Problem(string.Concat(Enumerable.Repeat("a\r\n", 1000)), KeyboardLayouts.Us));
        Assert.Equal("Text: at most 2000 characters at a time (this is 2001).", KeyboardLayouts.Problem(new string('a', 2001), KeyboardLayouts.Us));
    }
}
