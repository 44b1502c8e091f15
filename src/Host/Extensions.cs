using Microsoft.Extensions.Options;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Paddock.Engine.Hosting;
using Paddock.Engine.Isolation;
using Paddock.Host.Console;
using Paddock.Host.Networks;
using Paddock.Host.Node;
using Paddock.Host.Portal;
using Paddock.Host.Vms;
using Paddock.Host.Vms.Operations;

namespace Paddock.Host;

/// <summary>The agent's registrations; Program.cs reads as their table of contents.</summary>
public static class Extensions
{
    public static void AddAgentOptions(this HostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AgentOptions>().BindConfiguration(AgentOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        // Under systemd (notify, journal) or the Service Control Manager; each is a no-op elsewhere.
        if (OperatingSystem.IsWindows())
        {
            builder.Services.AddWindowsService(o => o.ServiceName = "Paddock agent");
        }
        else
        {
            builder.Services.AddSystemd();
        }

        // VMs outlive the agent: give it time to hand over cleanly, never to take them along.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
    }

    /// <summary>What the agent does for the host as a whole: capacity, images, limits, guards, KSM, usage, serial logs.</summary>
    public static void AddAgentNode(this HostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(HostProbes.ForThisOs());
        builder.Services.AddSingleton(services => Accelerators.Decide(services.GetRequiredService<IHostProbe>().Accelerator(),
            services.GetRequiredService<IOptions<AgentOptions>>().Value.Accelerator));
        builder.Services.AddSingleton<ImageCache>();
        builder.Services.AddSingleton<ImageAccess>();
        builder.Services.AddSingleton<IProcessBounds>(OperatingSystem.IsWindows()
            ? new WindowsProcessBounds(Environment.ProcessorCount)
            : new LinuxProcessBounds(new CpuCgroup(), new BoundsCgroup()));
        builder.Services.AddSingleton<ResourceLimiter>();
        builder.Services.AddSingleton<ConfinementGuard>();
        builder.Services.AddSingleton(services => new DiskSpaceGuard(services.GetRequiredService<IOptions<AgentOptions>>()));
        builder.Services.AddSingleton<KsmKeeper>();
        builder.Services.AddSingleton<VmIoSampler>();
        builder.Services.AddSingleton<AgentHealth>();
        builder.Services.AddHostedService<UsageReporter>();
        builder.Services.AddHostedService<SpaceResumer>();
        builder.Services.AddHostedService(services => new SerialLogKeeper(
            services.GetRequiredService<IOptions<AgentOptions>>(),
            () => [.. services.GetRequiredService<VmTable>().RunningProcesses().Select(p => p.VmId)],
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILogger<SerialLogKeeper>>()));
    }

    /// <summary>Tenant networks: bridges, namespaces, dnsmasq, VXLAN and walls (Networks/), and the taps QEMU gets.</summary>
    public static void AddAgentNetworks(this HostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<NetworkDns>();
        builder.Services.AddSingleton<NetworkKeeper>();
        builder.Services.AddSingleton<NetworkTaps>();
    }

    /// <summary>The VMs: the table, the supervisor that takes commands, and one operation per verb.</summary>
    public static void AddAgentVms(this HostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<OperationJournal>();
        builder.Services.AddSingleton<VmTable>();
        builder.Services.AddSingleton<VmFiles>();
        builder.Services.AddSingleton<SeedImages>();
        builder.Services.AddSingleton<GuestAgents>();
        builder.Services.AddHostedService(services => services.GetRequiredService<GuestAgents>());
        builder.Services.AddSingleton<DiskLeaks>();
        builder.Services.AddSingleton<VmReports>();
        builder.Services.AddSingleton<VmWatcher>();
        builder.Services.AddSingleton<SilentQemus>();
        builder.Services.AddOperation<CreateVm>();
        builder.Services.AddOperation<StartVm>();
        builder.Services.AddOperation<RestoreVm>();
        builder.Services.AddOperation<ShutdownVm>();
        builder.Services.AddOperation<RebootVm>();
        builder.Services.AddOperation<ResetVm>();
        builder.Services.AddOperation<PowerOffVm>();
        builder.Services.AddOperation<PauseVm>();
        builder.Services.AddOperation<ResumeVm>();
        builder.Services.AddOperation<SendKeys>();
        builder.Services.AddSingleton<VmTyping>();
        builder.Services.AddOperation<TypeText>();
        builder.Services.AddOperation<StopTyping>();
        builder.Services.AddOperation<SetGuestPassword>();
        builder.Services.AddOperation<SaveVm>();
        builder.Services.AddOperation<TakeSnapshot>();
        builder.Services.AddOperation<RevertSnapshot>();
        builder.Services.AddOperation<DeleteSnapshot>();
        builder.Services.AddOperation<ConfigureVm>();
        builder.Services.AddOperation<DeleteVm>();
        builder.Services.AddOperation<ConvertToTemplate>();
        builder.Services.AddOperation<ChangeMedium>();
        builder.Services.AddOperation<ChangeHardware>();
        builder.Services.AddSingleton<Migration.MigrationChannels>();
        builder.Services.AddOperation<MigrateIn>();
        builder.Services.AddOperation<MigrateOut>();
        builder.Services.AddOperation<FinishMigration>();
        builder.Services.AddOperation<CancelMigration>();
        builder.Services.AddSingleton<VmSupervisor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<VmSupervisor>());
    }

    public static void AddAgentConsole(this HostApplicationBuilder builder) =>
        builder.Services.AddSingleton<ConsoleBridge>();

    public static void AddAgentPortalConnection(this HostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<PortalTrust>();
        builder.Services.AddSingleton<HostIdentity>();
        builder.Services.AddSingleton<AgentCredential>();
        builder.Services.AddSingleton<PortalSockets>();
        builder.Services.AddSingleton<PortalReports>();
        builder.Services.AddSingleton<IPortalReporter>(services => services.GetRequiredService<PortalReports>());
        builder.Services.AddSingleton<PortalConnection>();
        builder.Services.AddHostedService(services => services.GetRequiredService<PortalConnection>());
    }

    /// <summary>
    /// Traces of operations (and the QMP commands they send) go to the OTLP collector that
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names (the SDK's variables: protocol, headers); without one
    /// nothing listens and no span is made.
    /// </summary>
    public static void AddAgentTracing(this HostApplicationBuilder builder)
    {
        if (string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            return;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("paddock-agent"))
            .WithTracing(tracing => tracing.AddSource(AgentTracing.Source, Engine.Qmp.QmpClient.TracingSource).AddOtlpExporter());
    }

    /// <summary>An operation is one singleton, found by its own type (others call it) and among all operations.</summary>
    private static void AddOperation<T>(this IServiceCollection services) where T : class, IVmOperation
    {
        services.AddSingleton<T>();
        services.AddSingleton<IVmOperation>(provider => provider.GetRequiredService<T>());
    }
}
