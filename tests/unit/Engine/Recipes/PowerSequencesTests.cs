using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Unit.Engine.Qmp;

namespace Paddock.Unit.Engine.Recipes;

public sealed class PowerSequencesTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Shutdown_presses_the_power_button_again_until_the_guest_is_gone()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        var exited = new TaskCompletionSource();

        var shutdown = PowerSequences.ShutdownAsync(qmp, exited.Task, TimeSpan.FromSeconds(30), TimeProvider.System, CancellationToken.None,
            reask: TimeSpan.FromMilliseconds(100));
        await connection.ExpectAsync("system_powerdown");
        await connection.ExpectAsync("system_powerdown");
        exited.SetResult();

        Assert.True(await shutdown.WaitAsync(Patience));
    }

    [Fact]
    public async Task Shutdown_gives_up_at_its_timeout_when_the_guest_refuses_the_button()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var shutdown = PowerSequences.ShutdownAsync(qmp, new TaskCompletionSource().Task, TimeSpan.FromMilliseconds(300), TimeProvider.System,
            CancellationToken.None);
        var pressed = await connection.ReceiveAsync();
        Assert.Equal("system_powerdown", pressed.GetProperty("execute").GetString());
        await connection.ErrorAsync(pressed, "no ACPI");

        Assert.False(await shutdown.WaitAsync(Patience));
    }

    [Fact]
    public async Task Reboot_sends_ctrl_alt_del_and_says_whether_the_guest_reset_in_time()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        var reset = new TaskCompletionSource();

        var rebooted = PowerSequences.RebootAsync(qmp, reset.Task, TimeSpan.FromSeconds(30), CancellationToken.None);
        var keys = await connection.ExpectAsync("send-key");
        reset.SetResult();
        var ignored = PowerSequences.RebootAsync(qmp, new TaskCompletionSource().Task, TimeSpan.FromMilliseconds(200), CancellationToken.None);
        await connection.ExpectAsync("send-key");

        Assert.Equal(["ctrl", "alt", "delete"],
            keys.GetProperty("arguments").GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("data").GetString()));
        Assert.Equal("qcode", keys.GetProperty("arguments").GetProperty("keys")[0].GetProperty("type").GetString());
        Assert.True(await rebooted.WaitAsync(Patience));
        Assert.False(await ignored.WaitAsync(Patience));
    }

    [Fact]
    public async Task Reset_of_a_paused_guest_resumes_it()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var reset = PowerSequences.ResetAsync(qmp, paused: true);
        await connection.ExpectAsync("system_reset");
        await connection.ExpectAsync("cont");

        await reset.WaitAsync(Patience);
    }

    [Fact]
    public async Task Power_off_kills_a_QEMU_that_refuses_to_quit()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        var exited = new TaskCompletionSource();
        var killed = 0;

        var powerOff = PowerSequences.PowerOffAsync(qmp, exited.Task, () => { killed++; exited.TrySetResult(); }, grace: TimeSpan.FromMilliseconds(200));
        var quit = await connection.ReceiveAsync();
        Assert.Equal("quit", quit.GetProperty("execute").GetString());
        await connection.ErrorAsync(quit, "busy");
        await powerOff.WaitAsync(Patience);

        Assert.Equal(1, killed);
    }

    [Fact]
    public async Task Power_off_does_not_kill_a_QEMU_that_quits()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        var exited = new TaskCompletionSource();
        var killed = 0;

        var powerOff = PowerSequences.PowerOffAsync(qmp, exited.Task, () => killed++, grace: TimeSpan.FromSeconds(30));
        await connection.ExpectAsync("quit");
        exited.SetResult();
        await powerOff.WaitAsync(Patience);

        Assert.Equal(0, killed);
    }
}
