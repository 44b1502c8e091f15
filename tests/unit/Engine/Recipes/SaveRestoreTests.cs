using System.Net.Sockets;
using System.Text;
using Paddock.Engine.Hosting;
using Paddock.Engine.Recipes;
using Paddock.Unit.Engine.Qmp;

namespace Paddock.Unit.Engine.Recipes;

public sealed class SaveRestoreTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    // Short: sun_path holds 107 bytes.
    private readonly string _dir = Directory.CreateTempSubdirectory("psr").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Save_takes_the_state_from_QEMU_through_the_socket_and_waits_for_the_migration()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        var socket = Path.Join(_dir, "save.sock");
        var file = Path.Join(_dir, "state.partial");
        var allowed = false;

        // This test process plays QEMU: it is the peer SO_PEERCRED must find.
        var saving = SaveRestore.SaveAsync(qmp, Environment.ProcessId, socket, file, new DiskRoom("saving the VM's state", 1, 1),
            _ => { allowed = File.Exists(socket); return Task.CompletedTask; }, CancellationToken.None);
        var migrate = await connection.ReceiveAsync();
        Assert.Equal($"unix:{socket}", migrate.GetProperty("arguments").GetProperty("uri").GetString());
        using (var qemu = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await qemu.ConnectAsync(new UnixDomainSocketEndPoint(socket));
            await connection.ReplyAsync(migrate, "{}");
            await qemu.SendAsync(Encoding.ASCII.GetBytes("QEVM state"));
        }

        await connection.ExpectAsync("query-migrate", """{"status": "active"}""");
        await connection.ExpectAsync("query-migrate", """{"status": "completed"}""");
        await saving.WaitAsync(Patience);

        Assert.True(allowed);
        Assert.Equal("QEVM state", await File.ReadAllTextAsync(file));
        Assert.False(File.Exists(socket));
    }

    [Fact]
    public async Task A_failed_migration_fails_the_save_with_QEMUs_reason()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var waiting = SaveRestore.WaitForMigrationAsync(qmp, CancellationToken.None);
        await connection.ExpectAsync("query-migrate", """{"status": "failed", "error-desc": "Unable to write to socket: Broken pipe"}""");

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => waiting.WaitAsync(Patience));
        Assert.Equal("QEMU could not move the state: Unable to write to socket: Broken pipe", e.Message);
    }

    [Fact]
    public async Task A_migration_that_does_not_end_in_time_is_a_timeout()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var waiting = SaveRestore.WaitForMigrationAsync(qmp, CancellationToken.None, limit: TimeSpan.FromMilliseconds(300));
        await connection.AnswerUntilAsync(waiting, "query-migrate", """{"status": "active"}""");

        await Assert.ThrowsAsync<TimeoutException>(() => waiting.WaitAsync(Patience));
    }

    [Fact]
    public async Task Restore_asks_QEMU_to_listen_and_sends_the_state_file_in()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        var socket = Path.Join(_dir, "restore.sock");
        var file = Path.Join(_dir, "state");
        await File.WriteAllTextAsync(file, "QEVM saved");
        using var qemu = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        qemu.Bind(new UnixDomainSocketEndPoint(socket));
        qemu.Listen(1);

        var restoring = SaveRestore.RestoreAsync(qmp, Environment.ProcessId, socket, file, CancellationToken.None);
        var incoming = await connection.ExpectAsync("migrate-incoming");
        using var agent = await qemu.AcceptAsync().WaitAsync(Patience);
        await using var stream = new NetworkStream(agent);
        var received = new MemoryStream();
        await stream.CopyToAsync(received).WaitAsync(Patience);
        await connection.ExpectAsync("query-migrate", """{"status": "completed"}""");
        await restoring.WaitAsync(Patience);

        Assert.Equal($"unix:{socket}", incoming.GetProperty("arguments").GetProperty("uri").GetString());
        Assert.Equal("QEVM saved", Encoding.ASCII.GetString(received.ToArray()));
    }
}
