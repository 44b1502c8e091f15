using Paddock.Engine.Qemu;

namespace Paddock.Unit.Engine.Qemu;

public sealed class QemuOptionValueTests
{
    [Theory]
    [InlineData("/plain/path", "/plain/path")]
    [InlineData("/a,b", "/a,,b")]
    [InlineData("/a,,b", "/a,,,,b")]
    [InlineData(",", ",,")]
    [InlineData("/with space/and \"quotes\"/'single'", "/with space/and \"quotes\"/'single'")]
    [InlineData("/x,id=evil", "/x,,id=evil")]
    public void Commas_are_doubled_and_nothing_else_changes(string value, string expected)
    {
        Assert.Equal(expected, QemuOptionValue.Escape(value, "path"));
    }

    [Theory]
    [InlineData("/a\nb")]
    [InlineData("/a\rb")]
    [InlineData("/a\0b")]
    [InlineData("")]
    public void Newline_NUL_and_empty_are_refused(string value)
    {
        var escape = Assert.Throws<UnsafeQemuValueException>(() => QemuOptionValue.Escape(value, "disk path"));
        Assert.Equal("disk path", escape.What);
        Assert.Throws<UnsafeQemuValueException>(() => QemuOptionValue.Verbatim(value, "pidfile"));
    }

    [Fact]
    public void Verbatim_arguments_keep_their_commas()
    {
        Assert.Equal("/a,b/qemu.pid", QemuOptionValue.Verbatim("/a,b/qemu.pid", "pidfile"));
    }
}
