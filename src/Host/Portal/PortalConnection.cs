using System.Runtime.InteropServices;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Host.Console;
using Paddock.Host.Vms;

namespace Paddock.Host.Portal;

/// <summary>Where the agent's observations go. Reports made while the portal is away are dropped: registration sends the whole truth again.</summary>
public interface IPortalReporter
{
    Task ReportVmAsync(VmReport report);

    Task ReportOperationAsync(OperationReport report);

    Task ReportUsageAsync(HostUsage usage);
}

/// <summary>
/// The agent's one connection to the portal: dials out, registers, takes commands, and keeps
/// trying for as long as the agent lives (SignalR's default policy gives up after four tries).
/// </summary>
public sealed class PortalConnection(
    IOptions<AgentOptions> options,
    VmSupervisor vms,
    ConsoleBridge consoles,
    KsmKeeper ksm,
    Paddock.Host.Vms.ConfinementGuard guard,
    HostIdentity identity,
    AgentCredential credential,
    PortalTrust trust,
    ILogger<PortalConnection> log) : BackgroundService, IPortalReporter
{
    private HubConnection? _connection;
    private volatile bool _registered;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(new Uri(options.Value.PortalUrl), "/hubs/hosts"), o =>
            {
                o.AccessTokenProvider = async () => await credential.GetAsync(stoppingToken);
                o.HttpMessageHandlerFactory = trust.Apply;
                o.WebSocketConfiguration = trust.Apply;
            })
            .WithAutomaticReconnect(new ForeverRetryPolicy())
            .Build();
        connection.On<VmCommand, CommandAck>(nameof(IHostAgent.Execute), vms.Accept);
        connection.On<ConsoleDial, CommandAck>(nameof(IHostAgent.OpenConsole), consoles.Accept);
        connection.On<HostSettings>(nameof(IHostAgent.ApplyHostSettings), settings =>
        {
            guard.Apply(settings);
            ksm.Apply(settings);
        });
        connection.Reconnecting += _ =>
        {
            _registered = false;
            log.LogWarning("Lost the portal; reconnecting");
            return Task.CompletedTask;
        };
        connection.Reconnected += _ => RegisterAsync(connection, stoppingToken);
        connection.Closed += async _ =>
        {
            // Closed only after the retry policy gave up or a start failed: begin again from scratch.
            _registered = false;
            if (!stoppingToken.IsCancellationRequested)
            {
                await ConnectAsync(connection, stoppingToken);
            }
        };
        _connection = connection;
        await ConnectAsync(connection, stoppingToken);
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
        catch (OperationCanceledException)
        {
            await connection.DisposeAsync();
        }
    }

    public Task ReportVmAsync(VmReport report) => SendAsync(nameof(IHostHub.ReportVm), report);

    public Task ReportOperationAsync(OperationReport report) => SendAsync(nameof(IHostHub.ReportOperation), report);

    public Task ReportUsageAsync(HostUsage usage) => SendAsync(nameof(IHostHub.ReportUsage), usage);

    private async Task SendAsync(string method, object report)
    {
        if (_connection is not { State: HubConnectionState.Connected } connection || !_registered)
        {
            return;
        }

        try
        {
            await connection.InvokeAsync(method, report);
        }
        catch (Exception e)
        {
            log.LogWarning(e, "Could not report {Method} to the portal; the next registration carries the truth", method);
        }
    }

    private async Task ConnectAsync(HubConnection connection, CancellationToken ct)
    {
        var retry = new ForeverRetryPolicy();
        for (var attempt = 0L; !ct.IsCancellationRequested; attempt++)
        {
            try
            {
                await connection.StartAsync(ct);
                await RegisterAsync(connection, ct);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                var delay = retry.NextRetryDelay(new RetryContext { PreviousRetryCount = attempt })!.Value;
                if (e is EnrollmentRefusedException || e is HttpRequestException { StatusCode: System.Net.HttpStatusCode.Unauthorized })
                {
                    // Revoked, or a token already spent: only an admin's new join token helps; keep asking slowly.
                    log.LogError("The portal does not accept this host: {Message} An admin makes a join token on the Hosts page (Add host); restart the agent with it as Agent:JoinToken.", e is EnrollmentRefusedException ? e.Message : "its credential is unknown or was revoked.");
                }
                else
                {
                    log.LogWarning("Cannot reach the portal at {Url} ({Message}); trying again in {Delay}", options.Value.PortalUrl, e.Message, delay);
                }

                if (connection.State != HubConnectionState.Disconnected)
                {
                    await connection.StopAsync(CancellationToken.None);
                }

                await Task.Delay(delay, ct).ContinueWith(_ => { }, CancellationToken.None);
            }
        }
    }

    private async Task RegisterAsync(HubConnection connection, CancellationToken ct)
    {
        var capacity = HostCapacity.Probe(options.Value);
        var registration = new HostRegistration(
            identity.Id,
            options.Value.Name ?? Environment.MachineName,
            ContractVersion.Current,
            capacity.LogicalCpus,
            capacity.MemoryBytes,
            capacity.DiskBytes,
            vms.Accelerator.Name,
            vms.Accelerator.Warning,
            capacity.QemuVersion,
            guard.Confinement.Mode,
            await vms.ReportAllAsync(ct),
            capacity.NumaNodes,
            capacity.HugePagesTotal,
            capacity.HugePageBytes,
            capacity.KsmAvailable,
            capacity.KsmNote,
            guard.Confinement.Missing,
            // What the image store holds, installed images (the built-in template's) among them.
            [.. Directory.EnumerateFiles(options.Value.ImagesDir).Select(Path.GetFileName).OfType<string>().Where(n => n.EndsWith(".qcow2", StringComparison.Ordinal) || n.EndsWith(".iso", StringComparison.Ordinal))]);
        var welcome = await connection.InvokeAsync<HostWelcome>(nameof(IHostHub.Register), registration, ct);
        if (!welcome.Accepted)
        {
            log.LogError("The portal refused this host: {Reason}", welcome.Refusal);
            throw new InvalidOperationException(welcome.Refusal);
        }

        _registered = true;
        log.LogInformation("Registered with the portal as {Host}", identity.Id);
    }

    /// <summary>0.5 s, 1 s, 2 s ... capped at 10 s, forever.</summary>
    private sealed class ForeverRetryPolicy : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext context) =>
            TimeSpan.FromMilliseconds(Math.Min(10_000, 500 * Math.Pow(2, Math.Min(context.PreviousRetryCount, 10))));
    }
}
