using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Paddock.Engine.Guests;

/// <summary>
/// The YAML of cloud-init seeds: reading the owner's text with a bound on what it may cost, and writing values as
/// double-quoted scalars that nothing typed can break out of.
/// </summary>
internal static class CloudInitYaml
{
    /// <summary>The most collections that may nest inside each other, counting the root mapping as 1.</summary>
    public const int MaxDepth = 64;

    /// <summary>The most nodes a document may hold once its aliases are followed (a "billion laughs" stops here).</summary>
    public const int MaxExpandedNodes = 100_000;

    /// <summary>
    /// Parses <paramref name="text"/> as at most one YAML document and returns its root, or null when the text
    /// holds none (only comments). Refuses syntax errors, duplicate keys, nesting deeper than <see cref="MaxDepth"/>
    /// and documents that expand to more than <see cref="MaxExpandedNodes"/> nodes, with the line where it happened.
    /// </summary>
    /// <param name="field">The field to blame, e.g. <c>userData</c>.</param>
    /// <param name="label">How messages name the text, e.g. <c>User-data</c>.</param>
    public static YamlNode? Load(string text, string field, string label)
    {
        var stream = new YamlStream();
        try
        {
            // Depth and aliases to no anchor are checked while parsing, before YamlDotNet builds a node for each level.
            stream.Load(new BoundedParser(new Parser(new StringReader(text))));
        }
        catch (YamlException e)
        {
            throw Refusal(field, label, e.Start.Line, Describe(e));
        }
        if (stream.Documents.Count > 1)
        {
            throw Refusal(field, label, stream.Documents[1].RootNode.Start.Line, "only one YAML document is allowed (found a second after '---').");
        }
        if (stream.Documents.Count == 0)
        {
            return null;
        }
        var root = stream.Documents[0].RootNode;
        CheckExpandedSize(root, field, label);
        return root;
    }

    /// <summary>True for the root of a document that says nothing: <c>---</c> alone, <c>~</c> or <c>null</c>.</summary>
    public static bool IsEmpty(YamlNode? root) =>
        root is null || root is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: "" or "~" or "null" or "Null" or "NULL" };

    /// <summary>A refusal of <paramref name="field"/> at a 1-based <paramref name="line"/> (0 or less when unknown).</summary>
    public static InvalidCloudInitException Refusal(string field, string label, long line, string problem) =>
        line > 0
            ? new InvalidCloudInitException(field, (int)Math.Min(line, int.MaxValue), $"{label} line {line}: {problem}")
            : new InvalidCloudInitException(field, null, $"{label}: {problem}");

    /// <summary>
    /// <paramref name="value"/> as a YAML double-quoted scalar: quotes, backslashes, line breaks and every other
    /// control character are escaped, so the value reads back unchanged and cannot end the scalar or start a key.
    /// </summary>
    public static string Quote(string value)
    {
        var quoted = new StringBuilder(value.Length + 2).Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '"' or '\\')
            {
                quoted.Append('\\').Append(c);
            }
            else if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\uFEFF' || IsLoneSurrogate(value, i))
            {
                quoted.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else
            {
                quoted.Append(c);
            }
        }
        return quoted.Append('"').ToString();
    }

    private static bool IsLoneSurrogate(string value, int i) =>
        char.IsHighSurrogate(value[i]) ? i + 1 == value.Length || !char.IsLowSurrogate(value[i + 1])
        : char.IsLowSurrogate(value[i]) && (i == 0 || !char.IsHighSurrogate(value[i - 1]));

    private static string Describe(YamlException e)
    {
        // YamlDotNet says "Duplicate key a"; name the key as the other messages name things.
        const string duplicate = "Duplicate key ";
        var message = e.Message.StartsWith(duplicate, StringComparison.Ordinal)
            ? $"the key '{e.Message[duplicate.Length..]}' appears twice"
            : e.Message.Trim();
        return message.EndsWith('.') ? message : message + ".";
    }

    /// <summary>Walks the tree as cloud-init will see it, aliases followed, and stops at the first bound crossed.</summary>
    private static void CheckExpandedSize(YamlNode root, string field, string label)
    {
        var pending = new Stack<(YamlNode Node, int Depth)>();
        pending.Push((root, 0));
        var seen = 0;
        while (pending.TryPop(out var item))
        {
            if (++seen > MaxExpandedNodes)
            {
                throw Refusal(field, label, item.Node.Start.Line, $"the YAML expands to more than {MaxExpandedNodes} nodes once its aliases are followed.");
            }
            var depth = item.Node is YamlScalarNode ? item.Depth : item.Depth + 1;
            if (depth > MaxDepth)
            {
                throw Refusal(field, label, item.Node.Start.Line, $"the YAML nests deeper than {MaxDepth} levels once its aliases are followed.");
            }
            foreach (var child in Children(item.Node))
            {
                pending.Push((child, depth));
            }
        }
    }

    private static IEnumerable<YamlNode> Children(YamlNode node) => node switch
    {
        YamlSequenceNode sequence => sequence.Children,
        YamlMappingNode mapping => mapping.Children.SelectMany(pair => new[] { pair.Key, pair.Value }),
        _ => [],
    };

    /// <summary>
    /// Passes a parser's events through, refusing collections nested deeper than <see cref="MaxDepth"/> and aliases
    /// to no anchor before them, both at the event's own line (YamlDotNet reports the latter at the document's start).
    /// </summary>
    private sealed class BoundedParser(IParser inner) : IParser
    {
        private readonly HashSet<string> _anchors = new(StringComparer.Ordinal);
        private int _depth;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext())
            {
                return false;
            }
            var current = inner.Current!;
            if (current is DocumentStart)
            {
                _anchors.Clear();
            }
            else if (current is AnchorAlias alias && !_anchors.Contains(alias.Value.Value))
            {
                throw new YamlException(alias.Start, alias.End, $"the alias *{alias.Value.Value} refers to no anchor before it");
            }
            else if (current is NodeEvent { Anchor.IsEmpty: false } anchored)
            {
                _anchors.Add(anchored.Anchor.Value);
            }
            if (current is MappingStart or SequenceStart && ++_depth > MaxDepth)
            {
                throw new YamlException(current.Start, current.End, $"the YAML nests deeper than {MaxDepth} levels");
            }
            if (current is MappingEnd or SequenceEnd)
            {
                _depth--;
            }
            return true;
        }
    }
}
