using System.Reflection;
using Xunit.Sdk;

[assembly: Paddock.E2e.ClosePagesAfterEachTest]

namespace Paddock.E2e;

/// <summary>After every test, the browser contexts it opened through the fixture are closed (<see cref="PaddockFixture.CloseContextsAsync"/>).</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class ClosePagesAfterEachTestAttribute : BeforeAfterTestAttribute
{
    public override void After(MethodInfo methodUnderTest)
    {
        // xUnit's hook is synchronous: the closing runs on the thread pool, off the test's context.
        if (PaddockFixture.Current is { } fixture)
        {
            Task.Run(fixture.CloseContextsAsync).GetAwaiter().GetResult();
        }
    }
}
