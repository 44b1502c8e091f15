using System.Reflection;
using Xunit.Sdk;

[assembly: Paddock.E2e.ClosePagesAfterEachTest]

namespace Paddock.E2e;

/// <summary>
/// After every test, the browser contexts it opened through the fixture are closed
/// (<see cref="PaddockFixture.CloseContextsAsync"/>), and so are the second portal processes it
/// started (<see cref="PaddockFixture.StopSecondPortalsAsync"/>): an idle portal still spends CPU on
/// its background work, which the tests after it would share.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class ClosePagesAfterEachTestAttribute : BeforeAfterTestAttribute
{
    public override void After(MethodInfo methodUnderTest)
    {
        // xUnit's hook is synchronous: the closing runs on the thread pool, off the test's context.
        // Only for the tests that take the fixture: the others (./paddock up's) run beside them.
        if (PaddockFixture.Current is { } fixture
            && methodUnderTest.DeclaringType?.GetConstructors().Any(c => c.GetParameters().Any(p => p.ParameterType == typeof(PaddockFixture))) == true)
        {
            Task.Run(async () =>
            {
                await fixture.CloseContextsAsync();
                await fixture.StopSecondPortalsAsync();
            }).GetAwaiter().GetResult();
        }
    }
}
