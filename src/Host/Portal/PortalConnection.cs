using System.Runtime.InteropServices;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Host.Console;
using Paddock.Host.Node;
using Paddock.Host.Vms;

namespace Paddock.Host.Portal;

/// <summary>
/// The agent's one connection to the portal: dials out, registers, takes commands, and keeps
/// trying for as long as the agent lives (SignalR's default policy gives up after four tries).
/// </summary>
public sealed class PortalConnection(
    IOptions<AgentOptions> options,
    VmSupervisor vms,
    AcceleratorChoice accelerator,
    IHostProbe probe,
    PortalReports reports,
    ConsoleBridge consoles,
    KsmKeeper ksm,
    ConfinementGuard guard,
    HostIdentity identity,
    AgentCredential credential,
    PortalTrust trust,
    Networks.NetworkKeeper networks,
    OperationJournal journal,
    ILogger<PortalConnection> log) : BackgroundService, IPortalReporter
{
    /// <summary>At most this many outcomes ride in the registration (the hub takes messages of 32 KB); the outbox sends the rest right after.</summary>
    private const int OutcomesInRegistration = 32;

    private readonly SemaphoreSlim _wake = new(0, 1);
    private HubConnection? _connection;
    private volatile bool _registered;
    private int _statesMissed;
    private int _connecting;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        reports.Connect(this);
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
        connection.On<ConsoleDial, CommandAck>(nameof(IHostAgent.OpenConsole), consoles.AcceptAsync);
        connection.On<HostSettings>(nameof(IHostAgent.ApplyHostSettings), settings =>
        {
            guard.Apply(settings);
            ksm.Apply(settings);
        });
        connection.On<IReadOnlyList<Engine.Networks.HostNetwork>>(nameof(IHostAgent.ApplyNetworks), list => networks.TakeAsync(list, stoppingToken));
        connection.Reconnecting += _ =>
        {
            _registered = false;
            log.LogWarning("Lost the portal; reconnecting");
            return Task.CompletedTask;
        };
        connection.Reconnected += async _ =>
        {
            try
            {
                await RegisterAsync(connection, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // Connected but not registered takes nothing: start over (Closed), and the outbox waits.
                log.LogWarning("Registering again failed ({Message}); connecting anew", e.Message);
                await connection.StopAsync(CancellationToken.None);
            }
        };
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
            await DeliverAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            await connection.DisposeAsync();
        }
    }

    /// <summary>
    /// A VM's state needs no outbox: a later report supersedes it and every registration carries
    /// all of them. One that cannot be sent is not lost silently, though: every VM's state is sent
    /// again once the portal takes reports (<see cref="DeliverOnceAsync"/>).
    /// </summary>
    public async Task ReportVmAsync(VmReport report)
    {
        if (!Ready)
        {
            // Registration may be under way with a list taken before this change: it is sent again after.
            Interlocked.Exchange(ref _statesMissed, 1);
            if (!Ready)
            {
                return;
            }
        }

        if (!await TrySendAsync(nameof(IHostHub.ReportVm), report))
        {
            Interlocked.Exchange(ref _statesMissed, 1);
            Wake();
        }
    }

    /// <summary>
    /// A finished operation's outcome is in the journal (the outbox) already: the outbox sends it, and
    /// every one before it, until the portal takes it. Progress is sent once, as is the answer to a
    /// resend of an outcome the portal had confirmed (it resends again if that is lost).
    /// </summary>
    public async Task ReportOperationAsync(OperationReport report)
    {
        if (report.State != OperationState.Running && journal.IsUnacknowledged(report.OperationId))
        {
            Wake();
        }
        else
        {
            await TrySendAsync(nameof(IHostHub.ReportOperation), report);
        }
    }

    /// <summary>In parts (<see cref="HubParts"/>), not kept: the next one, a few seconds later, supersedes it.</summary>
    public async Task ReportUsageAsync(HostUsage usage)
    {
        foreach (var part in HubParts.Split(usage))
        {
            if (!await TrySendAsync(nameof(IHostHub.ReportUsage), part))
            {
                return;
            }
        }
    }

    private bool Ready => _registered && _connection is { State: HubConnectionState.Connected };

    private async Task<bool> TrySendAsync(string method, object report)
    {
        if (!Ready)
        {
            return false;
        }

        try
        {
            await _connection!.InvokeAsync(method, report);
            return true;
        }
        catch (Microsoft.AspNetCore.SignalR.HubException e) when (e.Message.Contains("Refused: ", StringComparison.Ordinal))
        {
            // The hub's checks refuse it (AgentInput): sending it again cannot help, and it must not hold up the outbox.
            log.LogError("The portal refused {Method}: {Message}; not sent again", method, e.Message);
            return true;
        }
        catch (Exception e)
        {
            log.LogWarning("Could not report {Method} to the portal: {Message}", method, e.Message);
            return false;
        }
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken.
        }
    }

    /// <summary>
    /// The outbox: whenever woken, sends the outcomes the portal has not confirmed, oldest first,
    /// each confirmed once the hub call returned, then every VM's state if one was missed; tried again
    /// with a growing pause while the portal cannot take them (its store away). A lost connection
    /// ends the tries: the registration that follows carries the outbox.
    /// </summary>
    private async Task DeliverAsync(CancellationToken ct)
    {
        var retry = new ForeverRetryPolicy();
        while (!ct.IsCancellationRequested)
        {
            await _wake.WaitAsync(ct);
            for (var attempt = 0L; Ready && !await DeliverOnceAsync(ct); attempt++)
            {
                await Task.Delay(retry.NextRetryDelay(new RetryContext { PreviousRetryCount = attempt })!.Value, ct);
            }
        }
    }

    private async Task<bool> DeliverOnceAsync(CancellationToken ct)
    {
        foreach (var outcome in journal.Unacknowledged())
        {
            if (!await TrySendAsync(nameof(IHostHub.ReportOperation), outcome))
            {
                return false;
            }

            journal.Acknowledge([outcome.OperationId]);
        }

        if (Interlocked.Exchange(ref _statesMissed, 0) == 1)
        {
            foreach (var report in await vms.ReportAllAsync(ct))
            {
                if (!await TrySendAsync(nameof(IHostHub.ReportVm), report))
                {
                    Interlocked.Exchange(ref _statesMissed, 1);
                    return false;
                }
            }
        }

        return true;
    }

    private async Task ConnectAsync(HubConnection connection, CancellationToken ct)
    {
        // The StopAsync below raises Closed, which would start a second loop beside this one.
        if (Interlocked.Exchange(ref _connecting, 1) == 1)
        {
            return;
        }

        try
        {
            await ConnectUntilRegisteredAsync(connection, ct);
        }
        finally
        {
            Interlocked.Exchange(ref _connecting, 0);
        }
    }

    private async Task ConnectUntilRegisteredAsync(HubConnection connection, CancellationToken ct)
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
                    log.LogError(
                        "The portal does not accept this host: {Message} An admin makes a join token on the Hosts page (Add host); " +
                        "restart the agent with it as Agent:JoinToken.",
                        e is EnrollmentRefusedException ? e.Message : "its credential is unknown or was revoked.");
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
        var capacity = HostCapacity.Probe(options.Value, probe);
        var outcomes = journal.Unacknowledged().Take(OutcomesInRegistration).ToList();
        // The first part of the VMs' states; the outbox sends every state after the registration when there are more.
        var states = HubParts.Split(await vms.ReportAllAsync(ct));
        var registration = new HostRegistration(
            identity.Id,
            options.Value.Name ?? Environment.MachineName,
            ContractVersion.Current,
            capacity.LogicalCpus,
            capacity.MemoryBytes,
            capacity.DiskBytes,
            accelerator.Name,
            accelerator.Warning,
            capacity.QemuVersion,
            guard.Confinement.Mode,
            states[0],
            capacity.NumaNodes,
            capacity.HugePagesTotal,
            capacity.HugePageBytes,
            capacity.KsmAvailable,
            capacity.KsmNote,
            guard.Confinement.Missing,
            // What the image store holds, installed images (the built-in template's) among them.
            [.. Directory.EnumerateFiles(options.Value.ImagesDir).Select(Path.GetFileName).OfType<string>()
                .Where(n => n.EndsWith(".qcow2", StringComparison.Ordinal) || n.EndsWith(".iso", StringComparison.Ordinal))],
            networks.Registered,
            outcomes);
        var welcome = await connection.InvokeAsync<HostWelcome>(nameof(IHostHub.Register), registration, ct);
        if (!welcome.Accepted)
        {
            log.LogError("The portal refused this host: {Reason}", welcome.Refusal);
            throw new InvalidOperationException(welcome.Refusal);
        }

        // The portal recorded the outcomes it was handed before it answered.
        journal.Acknowledge(outcomes.Select(o => o.OperationId));
        if (states.Count > 1)
        {
            Interlocked.Exchange(ref _statesMissed, 1);
        }

        _registered = true;
        Wake();
        log.LogInformation("Registered with the portal as {Host} ({Count} outcomes handed over)", identity.Id, outcomes.Count);
    }

    /// <summary>
    /// 0.5 s, 1 s, 2 s, then every 3 s, forever: a restarted portal is dialled again at most 3 s
    /// after it answers (a try is one TLS handshake, cheap for the portal even from many hosts).
    /// </summary>
    private sealed class ForeverRetryPolicy : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext context) =>
            TimeSpan.FromMilliseconds(Math.Min(3_000, 500 * Math.Pow(2, Math.Min(context.PreviousRetryCount, 10))));
    }
}
