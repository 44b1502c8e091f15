using System.Net.Sockets;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Engine.Isolation;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Recipes;

/// <summary>
/// Save and Restore through QEMU's migration stream (libvirt's qemu_saveimage.c does the same into
/// a file). The sandbox forbids QEMU to spawn (no <c>exec:</c> migration) and .NET cannot pass a
/// file descriptor, so the state goes through a unix socket between QEMU and the agent: on save the
/// agent listens and writes the file; on restore QEMU (started with <c>-incoming defer</c>) listens
/// and the agent sends the file in. Each socket's peer must be the VM's QEMU (<c>SO_PEERCRED</c>).
/// </summary>
public static class SaveRestore
{
    /// <summary>How long QEMU has to connect to the save socket after <c>migrate</c>.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long the state may take to move.</summary>
    public static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Streams the running QEMU's whole state into <paramref name="stateFile"/> (created as the
    /// agent's own: QEMU only ever reads it back through a socket). <paramref name="allowQemu"/>
    /// gives the listening socket to the VM's uid before QEMU is asked to connect. A disk that fills
    /// up is a <see cref="DiskFullException"/> told by <paramref name="room"/>, thrown once QEMU has
    /// given the migration up (it then runs a guest that ran, as before); the partial file is the caller's to remove.
    /// </summary>
    public static async Task SaveAsync(
        QmpClient qmp, int qemuPid, string socketPath, string stateFile, DiskRoom room, Func<CancellationToken, Task> allowQemu, CancellationToken ct,
        SaveProgress? progress = null)
    {
        File.Delete(socketPath);
        using (var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            listener.Listen(1);
            await allowQemu(ct).ConfigureAwait(false);
            var accept = listener.AcceptAsync(ct).AsTask();
            await qmp.MigrateAsync($"unix:{socketPath}", ct).ConfigureAwait(false);
            using var reporting = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var reports = progress is null ? Task.CompletedTask : progress.ReportAsync(qmp, reporting.Token);
            try
            {
                await ReceiveStateAsync(accept, qemuPid, stateFile, ct).ConfigureAwait(false);
            }
            catch (IOException e) when (room.Full(e) is { } full)
            {
                // The socket is closed: QEMU's writes fail, it ends the migration and resumes the guest.
                await WaitForMigrationEndAsync(qmp, ct).ConfigureAwait(false);
                throw full;
            }
            finally
            {
                await reporting.CancelAsync().ConfigureAwait(false);
                await reports.ConfigureAwait(false);
            }

            File.Delete(socketPath);
        }

        await WaitForMigrationAsync(qmp, ct).ConfigureAwait(false);
    }

    private static async Task ReceiveStateAsync(Task<Socket> accept, int qemuPid, string stateFile, CancellationToken ct)
    {
        using var connection = await accept.WaitAsync(ConnectTimeout, ct).ConfigureAwait(false);
        UnixPeer.Expect(connection, qemuPid, "the saved state");
        await using var file = RunDirectory.CreateOwnFile(stateFile);
        await using var stream = new NetworkStream(connection, ownsSocket: false);
        await stream.CopyToAsync(file, ct).ConfigureAwait(false);
        file.Flush(flushToDisk: true);
    }

    /// <summary>Until QEMU no longer moves the state (done, failed or called off), whichever it is: nothing is asked of a migration that runs.</summary>
    private static async Task WaitForMigrationEndAsync(QmpClient qmp, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + ConnectTimeout;
        while (DateTimeOffset.UtcNow < deadline
            && (await qmp.QueryMigrateAsync(ct).ConfigureAwait(false)) is { Completed: false, Failed: false, Status: not (null or "none") })
        {
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends <paramref name="stateFile"/> into a QEMU started with <c>-incoming defer</c>, listening
    /// (as the VM's uid) on <paramref name="socketPath"/>; <paramref name="progress"/> hears the bytes sent of the file's.
    /// </summary>
    public static async Task RestoreAsync(QmpClient qmp, int qemuPid, string socketPath, string stateFile, CancellationToken ct, IProgress<WorkDone>? progress = null)
    {
        await qmp.MigrateIncomingAsync($"unix:{socketPath}", ct).ConfigureAwait(false);
        using var socket = await UnixPeer.ConnectAsync(socketPath, qemuPid, "the restore socket", ct).ConfigureAwait(false);
        await using (var file = new FileStream(stateFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true))
        await using (var stream = new NetworkStream(socket, ownsSocket: false))
        {
            var (buffer, total, sent) = (new byte[1 << 20], file.Length, 0L);
            progress?.Report(new WorkDone(0, total, WorkDone.Bytes));
            int read;
            while ((read = await file.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                sent += read;
                progress?.Report(new WorkDone(Math.Min(sent, total), total, WorkDone.Bytes));
            }
        }

        socket.Shutdown(SocketShutdown.Send);
        await WaitForMigrationAsync(qmp, ct).ConfigureAwait(false);
    }

    /// <summary>Until query-migrate says completed; its error, when it failed.</summary>
    public static async Task WaitForMigrationAsync(QmpClient qmp, CancellationToken ct, TimeSpan? limit = null)
    {
        var deadline = DateTimeOffset.UtcNow + (limit ?? MigrationTimeout);
        while (DateTimeOffset.UtcNow < deadline)
        {
            var migration = await qmp.QueryMigrateAsync(ct).ConfigureAwait(false);
            if (migration.Completed)
            {
                return;
            }

            if (migration.Failed)
            {
                throw new InvalidOperationException($"QEMU could not move the state: {migration.ErrorDesc ?? "no reason given"}");
            }

            await Task.Delay(50, ct).ConfigureAwait(false);
        }

        throw new TimeoutException($"Moving the VM's state took over {(limit ?? MigrationTimeout).TotalMinutes:0} minutes.");
    }
}
