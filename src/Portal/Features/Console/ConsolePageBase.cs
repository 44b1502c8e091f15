using Marten;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.JSInterop;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// A console page (the screen's, the serial port's, a share link's): it loads the VM for a viewer
/// who may use its consoles, dials the console through its JavaScript module with a new single-use
/// ticket each time, and follows the connection in <see cref="Link"/>: a socket that closed by
/// itself is dialled again after a short wait; a refusal from the VM's host, or a session someone
/// ended (disconnected, taken over, access gone), is shown and not dialled again.
/// </summary>
/// <remarks>
/// The module exports <c>connect(element, path, dotnet, options)</c> and <c>disconnect(element)</c>,
/// and calls back <see cref="OnConnected"/> and <see cref="OnDisconnected"/> for its current socket only.
/// </remarks>
public abstract class ConsolePageBase : ComponentBase, IAsyncDisposable
{
    [Parameter]
    public Guid Id { get; set; }

    [CascadingParameter]
    protected Task<AuthenticationState> Auth { get; set; } = default!;

    [Inject]
    protected IDocumentStore Store { get; set; } = default!;

    [Inject]
    protected ConsoleTickets Tickets { get; set; } = default!;

    [Inject]
    private ConsoleRefusals Refusals { get; set; } = default!;

    [Inject]
    private ConsoleRelay Relay { get; set; } = default!;

    [Inject]
    private ConsoleViewers Viewers { get; set; } = default!;

    [Inject]
    private IJSRuntime JS { get; set; } = default!;

    [Inject]
    private TimeProvider Clock { get; set; } = default!;

    [Inject]
    protected NavigationManager Navigation { get; set; } = default!;

    private bool _started;
    private DotNetObjectReference<ConsolePageBase>? _self;
    private DateTimeOffset _dialedAt;
    private readonly CancellationTokenSource _gone = new();

    /// <summary>The VM, once the viewer may use its consoles.</summary>
    protected Vm? Vm { get; private set; }

    /// <summary>Why the viewer may not use the VM's consoles, when they see it but may not.</summary>
    protected string? Refusal { get; private set; }

    /// <summary>Why the VM's host refused the last dial, if it did.</summary>
    protected string? HostRefusal { get; private set; }

    /// <summary>Why someone or something ended the last session (disconnected, taken over, access gone), if they did.</summary>
    protected string? EndedBecause { get; private set; }

    /// <summary>The current session's id (<see cref="ConsoleViewer.Id"/>), once dialled.</summary>
    protected string? SessionId { get; private set; }

    protected ConsoleLink Link { get; } = new();

    /// <summary>The page's JavaScript module, once imported.</summary>
    protected IJSObjectReference? Module { get; private set; }

    protected abstract ConsoleKind Kind { get; }

    /// <summary>The module's path, as <c>import</c> takes it.</summary>
    protected abstract string ModulePath { get; }

    /// <summary>The element the console is drawn in.</summary>
    protected abstract ElementReference Element { get; }

    /// <summary>What the module's <c>connect</c> takes last, for this kind of console.</summary>
    protected virtual object? ConnectOptions => null;

    protected override async Task OnInitializedAsync()
    {
        (Vm, Refusal) = await AdmitAsync((await Auth).User);
        if (Vm is null && Refusal is null)
        {
            Navigation.NotFound();
        }
    }

    /// <summary>The VM when the viewer may use its console; else the refusal to show, or neither for a stranger (404).</summary>
    protected virtual async Task<(Vm? Vm, string? Refusal)> AdmitAsync(System.Security.Claims.ClaimsPrincipal user)
    {
        await using var session = Store.QuerySession();
        return await VmRights.FindForAsync(session, user, Id, VmAction.Console);
    }

    /// <summary>A new single-use ticket for this page's socket, and the socket's path.</summary>
    protected virtual async Task<(string Ticket, string Path)> TicketAsync(Guid userId)
    {
        var ticket = await Tickets.IssueAsync(userId, Vm!.Id, Kind);
        return (ticket, ConsoleEndpoints.SocketPath(Vm.Id, ticket, Kind));
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        // Not "firstRender": the first render may come before the VM is loaded (OnInitializedAsync
        // yields), and the element exists only once it is. Flagged before the first await: a
        // render during the import would otherwise open a second session over the first.
        if (!_started && Vm is not null)
        {
            _started = true;
            // The agent starts dialling back while the browser imports the console's module.
            Link.Dial();
            var prepared = PrepareAsync();
            Module = await JS.InvokeAsync<IJSObjectReference>("import", ModulePath);
            _self = DotNetObjectReference.Create(this);
            await OpenAsync(await prepared);
        }
    }

    /// <summary>Dials as the person asks (the Reconnect button), or as the page opens.</summary>
    protected Task ConnectAsync()
    {
        Link.Dial();
        return DialAsync();
    }

    private async Task DialAsync()
    {
        if (Module is not null)
        {
            await OpenAsync(await PrepareAsync());
        }
    }

    /// <summary>A new ticket, and the agent's dial-back for it started (the browser's socket still passes every check).</summary>
    private async Task<string> PrepareAsync()
    {
        (HostRefusal, EndedBecause) = (null, null);
        _dialedAt = Clock.GetUtcNow();
        var (ticket, path) = await TicketAsync((await Auth).User.UserId());
        SessionId = ConsoleTickets.IdOf(ticket);
        Relay.Prepare(Vm!, Kind, ticket);
        return path;
    }

    private async Task OpenAsync(string path) => await Module!.InvokeVoidAsync("connect", Element, path, _self, ConnectOptions);

    [JSInvokable]
    public Task OnConnected() => InvokeAsync(() =>
    {
        Link.Opened();
        StateHasChanged();
    });

    [JSInvokable]
    public Task OnDisconnected(bool clean) => InvokeAsync(async () =>
    {
        HostRefusal = Refusals.Since(Vm!.Id, Kind, _dialedAt);
        EndedBecause = SessionId is null ? null : await Viewers.EndedBecauseAsync(SessionId);
        var wait = Link.Closed(HostRefusal ?? EndedBecause, clean, HostRefusal is null && EndedBecause is null && await MayComeBackAsync(), ended: EndedBecause is not null);
        StateHasChanged();
        if (wait is { } delay)
        {
            await RedialAsync(delay);
        }
    });

    /// <summary>Whether the VM still runs, or soon runs again, and the viewer may still use its console.</summary>
    private async Task<bool> MayComeBackAsync()
    {
        var (vm, _) = await AdmitAsync((await Auth).User);
        return vm is not null && ConsoleLink.MayComeBack(vm.Status);
    }

    private async Task RedialAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, Clock, _gone.Token);
            await DialAsync();
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            // The page was left meanwhile.
        }
        catch (JSDisconnectedException)
        {
            // The browser went.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gone.CancelAsync();
        if (Module is not null)
        {
            try
            {
                await Module.InvokeVoidAsync("disconnect", Element);
                await Module.DisposeAsync();
            }
            catch (JSDisconnectedException)
            {
                // The browser went first; its socket closed with it.
            }
        }

        _self?.Dispose();
        _gone.Dispose();
        GC.SuppressFinalize(this);
    }
}
