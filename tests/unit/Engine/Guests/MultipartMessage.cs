using System.Text;

namespace Paddock.Unit.Engine.Guests;

/// <summary>Just enough MIME to take a seed's multipart user-data apart again: headers, boundary, base64 bodies.</summary>
internal static class MultipartMessage
{
    public sealed record Part(IReadOnlyDictionary<string, string> Headers, string Body);

    public static string Boundary(string message)
    {
        var contentType = Headers(message.Split("\n\n", 2)[0])["Content-Type"];
        const string marker = "boundary=\"";
        Assert.StartsWith("multipart/mixed; ", contentType, StringComparison.Ordinal);
        var start = contentType.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        return contentType[start..contentType.IndexOf('"', start)];
    }

    public static IReadOnlyList<Part> Parse(string message)
    {
        var (headerBlock, body) = (message.Split("\n\n", 2)[0], message.Split("\n\n", 2)[1]);
        Assert.Equal("1.0", Headers(headerBlock)["MIME-Version"]);
        var boundary = Boundary(message);
        Assert.StartsWith($"--{boundary}\n", body, StringComparison.Ordinal);
        Assert.EndsWith($"\n--{boundary}--\n", body, StringComparison.Ordinal);

        var inner = body[(boundary.Length + 3)..^(boundary.Length + 5)];
        return inner.Split($"\n--{boundary}\n").Select(text =>
        {
            var (headers, encoded) = (text.Split("\n\n", 2)[0], text.Split("\n\n", 2)[1]);
            Assert.All(encoded.Split('\n'), line => Assert.True(line.Length <= 76));
            return new Part(Headers(headers), Encoding.UTF8.GetString(Convert.FromBase64String(encoded.Replace("\n", "", StringComparison.Ordinal))));
        }).ToList();
    }

    private static Dictionary<string, string> Headers(string block) =>
        block.Split('\n').Select(line => line.Split(": ", 2)).ToDictionary(pair => pair[0], pair => pair[1], StringComparer.OrdinalIgnoreCase);
}
