using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Paddock.E2e;

/// <summary>One span as an OTLP collector receives it: the service that sent it, its instrumentation scope, ids (hex) and name.</summary>
public sealed record ReceivedSpan(string Service, string Scope, string TraceId, string SpanId, string ParentId, string Name);

/// <summary>
/// A stand-in OTLP collector for the processes the fixture starts (OTLP/HTTP with protobuf, as
/// <c>OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</c> sends it): it answers every export with 200 and
/// keeps the spans of Paddock's and Blazor's own sources (not every request's and query's), the
/// newest <see cref="MaxSpans"/>. The protobuf is read by hand, field by field
/// (opentelemetry/proto/trace/v1/trace.proto): only what a test asks about.
/// </summary>
public sealed class OtlpSink : IDisposable
{
    public const int MaxSpans = 200_000;

    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();

    public string Endpoint { get; private set; } = "";

    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];

    public void Start(int port)
    {
        Endpoint = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public void Dispose() => _listener.Close();

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            // Each export on its own: one process's big batch never holds up another's (an exporter that
            // waits too long drops its batch, and a full queue drops what comes after).
            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        try
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            if (context.Request.Url?.AbsolutePath == "/v1/traces")
            {
                Keep(body.ToArray());
            }

            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException or IOException)
        {
            // The exporter gave up, or the run is ending.
        }
    }

    private void Keep(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1))
        {
            var fields = Fields(resourceSpans.Bytes).ToList();
            var service = fields.Where(f => f.Number == 1).SelectMany(r => Fields(r.Bytes)).Where(f => f.Number == 1)
                .Select(Attribute).FirstOrDefault(a => a.Key == "service.name").Value ?? "";
            foreach (var scopeSpans in fields.Where(f => f.Number == 2))
            {
                var scopeFields = Fields(scopeSpans.Bytes).ToList();
                var scope = scopeFields.Where(f => f.Number == 1).SelectMany(s => Fields(s.Bytes)).Where(f => f.Number == 1).Select(f => Text(f.Bytes)).FirstOrDefault() ?? "";
                if (!scope.StartsWith("Paddock", StringComparison.Ordinal) && !scope.StartsWith("Microsoft.AspNetCore.Components", StringComparison.Ordinal))
                {
                    continue;
                }

                foreach (var span in scopeFields.Where(f => f.Number == 2).Select(f => Fields(f.Bytes).ToList()))
                {
                    _spans.Enqueue(new ReceivedSpan(service, scope, Hex(span, 1), Hex(span, 2), Hex(span, 4), span.Where(f => f.Number == 5).Select(f => Text(f.Bytes)).FirstOrDefault() ?? ""));
                    // The newest are kept: a test asks about what it just did.
                    while (_spans.Count > MaxSpans && _spans.TryDequeue(out _))
                    {
                    }
                }
            }
        }
    }

    private static (string Key, string? Value) Attribute((int Number, byte[] Bytes) keyValue)
    {
        var fields = Fields(keyValue.Bytes).ToList();
        var key = fields.Where(f => f.Number == 1).Select(f => Text(f.Bytes)).FirstOrDefault() ?? "";
        var value = fields.Where(f => f.Number == 2).SelectMany(v => Fields(v.Bytes)).Where(f => f.Number == 1).Select(f => Text(f.Bytes)).FirstOrDefault();
        return (key, value);
    }

    private static string Hex(List<(int Number, byte[] Bytes)> fields, int number) =>
        fields.Where(f => f.Number == number).Select(f => Convert.ToHexStringLower(f.Bytes)).FirstOrDefault() ?? "";

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>A message's fields in order: length-delimited ones with their bytes, others (varint, fixed) with none.</summary>
    private static IEnumerable<(int Number, byte[] Bytes)> Fields(byte[] message)
    {
        var at = 0;
        while (at < message.Length)
        {
            var tag = Varint(message, ref at);
            var (number, wire) = ((int)(tag >> 3), (int)(tag & 7));
            switch (wire)
            {
                case 0:
                    Varint(message, ref at);
                    yield return (number, []);
                    break;
                case 1:
                    at += 8;
                    yield return (number, []);
                    break;
                case 2:
                    var length = (int)Varint(message, ref at);
                    yield return (number, message[at..(at + length)]);
                    at += length;
                    break;
                case 5:
                    at += 4;
                    yield return (number, []);
                    break;
                default:
                    throw new InvalidDataException($"Protobuf wire type {wire} at byte {at}.");
            }
        }
    }

    private static ulong Varint(byte[] message, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}
