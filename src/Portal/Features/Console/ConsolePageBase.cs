using Marten;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.JSInterop;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// A console page (the screen's or the serial port's): it loads the VM for a viewer who may use
/// its consoles, dials the console through its JavaScript module with a new single-use ticket each
/// time, and follows the connection in <see cref="Link"/>: a socket that closed by itself is
/// dialled again after a short wait, and a refusal from the VM's host is shown, not dialled again.
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
    private IDocumentStore Store { get; set; } = default!;

    [Inject]
    private ConsoleTickets Tickets { get; set; } = default!;

    [Inject]
    private ConsoleRefusals Refusals { get; set; } = default!;

    [Inject]
    private ConsoleRelay Relay { get; set; } = default!;

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
        await using var session = Store.QuerySession();
        (Vm, Refusal) = await VmRights.FindForAsync(session, (await Auth).User, Id, VmAction.Console);
        if (Vm is null && Refusal is null)
        {
            Navigation.NotFound();
        }
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        // Not "firstRender": the first render may come before the VM is loaded (OnInitializedAsync
        // yields), and the element exists only once it is. Flagged before the first await: a
        // render during the import would otherwise open a second session over the first.
        if (!_started && Vm is not null)
        {
            _started = true;
            Module = await JS.InvokeAsync<IJSObjectReference>("import", ModulePath);
            _self = DotNetObjectReference.Create(this);
            await ConnectAsync();
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
        if (Module is null)
        {
            return;
        }

        HostRefusal = null;
        _dialedAt = Clock.GetUtcNow();
        var ticket = await Tickets.IssueAsync((await Auth).User.UserId(), Id, Kind);
        // The agent dials back while the browser opens its socket (the socket still passes every check).
        Relay.Prepare(Vm!, Kind, ticket);
        await Module.InvokeVoidAsync("connect", Element, ConsoleEndpoints.SocketPath(Id, ticket, Kind), _self, ConnectOptions);
    }

    [JSInvokable]
    public Task OnConnected() => InvokeAsync(() =>
    {
        Link.Opened();
        StateHasChanged();
    });

    [JSInvokable]
    public Task OnDisconnected(bool clean) => InvokeAsync(async () =>
    {
        HostRefusal = Refusals.Since(Id, Kind, _dialedAt);
        var wait = Link.Closed(HostRefusal, clean, HostRefusal is null && await MayComeBackAsync());
        StateHasChanged();
        if (wait is { } delay)
        {
            await RedialAsync(delay);
        }
    });

    /// <summary>Whether the VM still runs, or soon runs again, and the viewer may still use its consoles.</summary>
    private async Task<bool> MayComeBackAsync()
    {
        await using var session = Store.QuerySession();
        var (vm, _) = await VmRights.FindForAsync(session, (await Auth).User, Id, VmAction.Console);
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
