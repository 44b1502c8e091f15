using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("Paddock.E2e.SharedFixtureFramework", "Paddock.E2e")]

// The collections are few and mostly wait on guests: no limit on threads, so that a blocking call in
// one collection never holds up the other's continuations.
[assembly: CollectionBehavior(MaxParallelThreads = -1)]

namespace Paddock.E2e;

/// <summary>
/// One <see cref="PaddockFixture"/> for the whole run, whichever collection a test is in: xUnit v2
/// makes a collection fixture per collection, but the run has one PostgreSQL, one portal and one
/// e2e-host. It is started for the first class that takes it and stopped when the assembly ends, so
/// that the collections that run side by side (<see cref="PaddockCollection"/>,
/// <see cref="GuestsCollection"/>) and the one that runs alone afterwards (<see cref="AloneCollection"/>)
/// all use the same processes.
/// </summary>
public sealed class SharedFixtureFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName) =>
        new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Executor(AssemblyName assemblyName, ISourceInformationProvider sourceInformation, IMessageSink diagnostics)
        : XunitTestFrameworkExecutor(assemblyName, sourceInformation, diagnostics)
    {
        protected override async void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink executionMessageSink, ITestFrameworkExecutionOptions executionOptions)
        {
            using var runner = new AssemblyRunner(TestAssembly, testCases, DiagnosticMessageSink, executionMessageSink, executionOptions);
            await runner.RunAsync();
        }
    }

    private sealed class AssemblyRunner(ITestAssembly assembly, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics, IMessageSink execution, ITestFrameworkExecutionOptions options)
        : XunitTestAssemblyRunner(assembly, testCases, diagnostics, execution, options)
    {
        private readonly SharedPaddock _shared = new();

        protected override Task<RunSummary> RunTestCollectionAsync(IMessageBus messageBus, ITestCollection testCollection, IEnumerable<IXunitTestCase> testCases, CancellationTokenSource cancellationTokenSource) =>
            new CollectionRunner(_shared, testCollection, testCases, DiagnosticMessageSink, messageBus, TestCaseOrderer, new ExceptionAggregator(Aggregator), cancellationTokenSource).RunAsync();

        protected override async Task BeforeTestAssemblyFinishedAsync()
        {
            await Aggregator.RunAsync(_shared.StopAsync);
            await base.BeforeTestAssemblyFinishedAsync();
        }
    }

    private sealed class CollectionRunner : XunitTestCollectionRunner
    {
        private readonly SharedPaddock _shared;
        private readonly IMessageSink _diagnostics;

        public CollectionRunner(
            SharedPaddock shared, ITestCollection collection, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics, IMessageBus messageBus,
            ITestCaseOrderer orderer, ExceptionAggregator aggregator, CancellationTokenSource cancellation)
            : base(collection, testCases, diagnostics, messageBus, orderer, aggregator, cancellation)
        {
            _shared = shared;
            _diagnostics = diagnostics;
        }

        protected override async Task<RunSummary> RunTestClassAsync(ITestClass testClass, IReflectionTypeInfo @class, IEnumerable<IXunitTestCase> testCases)
        {
            var fixtures = new Dictionary<Type, object>(CollectionFixtureMappings);
            var classAggregator = new ExceptionAggregator(Aggregator);
            if (TakesPaddock(@class.Type))
            {
                // A fixture that failed to start fails every class that takes it, with its reason.
                await classAggregator.RunAsync(async () => fixtures[typeof(PaddockFixture)] = await _shared.StartedAsync());
            }

            return await new XunitTestClassRunner(testClass, @class, testCases, _diagnostics, MessageBus, TestCaseOrderer, classAggregator, CancellationTokenSource, fixtures).RunAsync();
        }

        private static bool TakesPaddock(Type type) =>
            type.GetConstructors().Any(c => c.GetParameters().Any(p => p.ParameterType == typeof(PaddockFixture)));
    }

    /// <summary>The run's fixture: started once, on first use; stopped once, if it was started.</summary>
    private sealed class SharedPaddock
    {
        private readonly Lazy<Task<PaddockFixture>> _started = new(StartAsync);

        public Task<PaddockFixture> StartedAsync() => _started.Value;

        public async Task StopAsync()
        {
            if (_started.IsValueCreated && _started.Value.IsCompletedSuccessfully)
            {
                var fixture = _started.Value.Result;
                await fixture.DisposeAsync();
                fixture.Dispose();
            }
        }

        private static async Task<PaddockFixture> StartAsync()
        {
            var fixture = new PaddockFixture();
            try
            {
                await fixture.InitializeAsync();
                return fixture;
            }
            catch
            {
                // What it started before it failed stops with it.
                await fixture.DisposeAsync();
                fixture.Dispose();
                throw;
            }
        }
    }
}
