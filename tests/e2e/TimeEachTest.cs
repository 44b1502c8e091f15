using System.Globalization;
using System.Reflection;
using Xunit.Sdk;

[assembly: Paddock.E2e.TimeEachTest]

namespace Paddock.E2e;

/// <summary>
/// Writes when each test began and ended (UTC, and seconds) to <c>artifacts/test-times.txt</c>: the
/// gaps between one test's end and the next one's start are the run's own costs (class set-up and
/// tear-down, agent restarts), which the test logger's durations leave out.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class TimeEachTestAttribute : BeforeAfterTestAttribute
{
    private static readonly Lock Gate = new();

    /// <summary>By test method: <c>./paddock up</c>'s test runs beside the others.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<MethodInfo, DateTime> Began = new();

    public override void Before(MethodInfo methodUnderTest) => Began[methodUnderTest] = DateTime.UtcNow;

    public override void After(MethodInfo methodUnderTest)
    {
        var ended = DateTime.UtcNow;
        var began = Began.TryRemove(methodUnderTest, out var at) ? at : ended;
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{began:HH:mm:ss.f} {ended:HH:mm:ss.f} {(ended - began).TotalSeconds,6:F1} {methodUnderTest.DeclaringType?.Name}.{methodUnderTest.Name}");
        var artifacts = Environment.GetEnvironmentVariable("PADDOCK_TEST_ARTIFACTS") ?? Path.GetTempPath();
        lock (Gate)
        {
            File.AppendAllLines(Path.Combine(artifacts, "test-times.txt"), [line]);
        }
    }
}
