using Paddock.Engine.Images;

namespace Paddock.Unit.Engine.Images;

public sealed class ImageStoreTests
{
    private readonly ImageStore _store = new("/var/lib/paddock/images/");

    [Theory]
    [InlineData("debian-12.qcow2")]
    [InlineData("with space, and comma.qcow2")]
    [InlineData("..hidden-but-plain")]
    public void A_plain_file_name_resolves_inside_the_store(string name)
    {
        Assert.Equal($"/var/lib/paddock/images/{name}", _store.Resolve(name));
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("../etc/shadow")]
    [InlineData("sub/dir.qcow2")]
    [InlineData("/etc/shadow")]
    [InlineData("..\\x")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("a\0b")]
    [InlineData("a\nb")]
    [InlineData("nbd:localhost:10809")]
    [InlineData("json:{}")]
    [InlineData("-o")]
    public void Path_traversal_and_odd_names_are_refused(string name)
    {
        var error = Assert.Throws<InvalidImageNameException>(() => _store.Resolve(name));

        Assert.Equal(name, error.Name);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_relative_store_directory_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new ImageStore("images"));
    }
}
