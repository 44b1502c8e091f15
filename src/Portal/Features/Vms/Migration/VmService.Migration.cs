using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Vms;

/// <summary>Live migration as admins ask for it: start one (placement books the destination), or call it off.</summary>
public sealed partial class VmService
{
    /// <summary>
    /// Starts moving the running VM to <paramref name="toHostId"/>, or to the host placement picks:
    /// the destination is booked in the same transaction that records the migration and asks the
    /// destination to prepare. Returns the migration's id (its task's).
    /// </summary>
    public async Task<Guid> MigrateAsync(ClaimsPrincipal admin, Guid vmId, Guid? toHostId, CancellationToken ct = default, int? maxBandwidthMiBps = null)
    {
        // The destination chosen may fill up before it is booked (creates book hosts in parallel): choose again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await MigrateOnceAsync(admin, vmId, toHostId, maxBandwidthMiBps, ct);
            }
            catch (PlacementContendedException e)
            {
                if (attempt == 3)
                {
                    throw new RefusedException($"{e.Message} Try again.", "host");
                }
            }
        }
    }

    private async Task<Guid> MigrateOnceAsync(ClaimsPrincipal admin, Guid vmId, Guid? toHostId, int? maxBandwidthMiBps, CancellationToken ct)
    {
        if (VmMigrations.BandwidthProblem(maxBandwidthMiBps) is { } problem)
        {
            throw new RefusedException(problem, "maxBandwidthMiBps");
        }

        await using var session = store.LightweightSession();
        var stream = await FetchForAsync(session, admin, vmId, VmAction.Migrate, ct);
        var vm = stream.Aggregate!;
        if (VmMigrations.Refusal(vm, toHostId) is { } refusal)
        {
            throw new RefusedException(refusal, "host");
        }

        var usage = QuotaService.UsageOf(vm);
        // The built-in template's image is installed with each host, not fetched from the library: only hosts that have it can take the VM.
        var installed = vm.BaseImage == options.Value.Template.Image ? vm.BaseImage : null;
        var decision = await PlacementService.PlaceAsync(
            session, new Resources(usage.VCpus, usage.MemoryMiB, usage.DiskMiB), toHostId, clock, ct, installedImage: installed, except: vm.HostId, tenantNetworks: Vm.OnTenantNetwork(vm));
        var to = decision.Chosen!;
        var from = (await session.LoadAsync<HostRecord>(vm.HostId, ct))?.Name ?? vm.PlacedOn ?? "its host";
        var migration = Guid.NewGuid();
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var now = clock.GetUtcNow();
        stream.AppendOne(new VmOperationRequested(migration, VmVerb.MigrateOut, admin.UserId(), now));
        // The channels meet at this process: the two agents may be held by different portal processes.
        var meet = options.Value.DirectUrl;
        stream.AppendOne(new VmMigrationStarted(migration, vm.HostId, from, to.Id, to.Name, token, admin.UserId(), now, maxBandwidthMiBps, meet));
        session.Insert(VmMigrations.Command(VmVerb.MigrateIn, vm, to.Id, new MigrationLink(migration, token, VmMigrations.DiskCount(vm), maxBandwidthMiBps * 1024L * 1024, meet), now, SpecOf(vm)));
        audit.Add(session, admin, AuditKind.VmOperation, $"Migrate '{vm.Name}' from {from} to {to.Name}", vm.Id);
        await SaveAndSendAsync(session, vm, ct);
        return migration;
    }

    /// <summary>
    /// Calls the VM's migration off: before the destination is ready it is simply cleaned; while the
    /// disks and memory move, the source cancels and runs on. Once the switchover has begun it is too late.
    /// </summary>
    public async Task CancelMigrationAsync(ClaimsPrincipal admin, Guid vmId, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var stream = await FetchForAsync(session, admin, vmId, VmAction.Migrate, ct);
        var vm = stream.Aggregate!;
        var migration = vm.Migration ?? throw new RefusedException("No migration of this VM is under way.");
        var now = clock.GetUtcNow();
        switch (migration.Step)
        {
            case MigrationStep.Cancelling:
                return;
            case MigrationStep.Finishing:
                throw new RefusedException(VmMigrations.CancelRefusal(migration)!);
            case MigrationStep.Preparing:
                // The destination has nothing the VM needs yet: clean it, and the VM never left.
                session.Insert(VmMigrations.Command(VmVerb.Delete, vm, migration.ToHostId, VmMigrations.LinkOf(migration, vm), now));
                stream.AppendOne(new VmOperationCompleted(migration.Id, VmVerb.MigrateOut, false, $"Cancelled by {admin.Identity?.Name}; the VM stayed on {migration.FromHost}.", now));
                break;
            default:
                // The source stops the move and runs on; its failed move then cleans the destination.
                stream.AppendOne(new VmMigrationStepped(migration.Id, MigrationStep.Cancelling, now));
                session.Insert(VmMigrations.Command(VmVerb.CancelMigration, vm, migration.FromHostId, VmMigrations.LinkOf(migration, vm), now));
                break;
        }

        audit.Add(session, admin, AuditKind.VmOperation, $"Cancel the migration of '{vm.Name}' to {migration.ToHost}", vm.Id);
        await SaveAndSendAsync(session, vm, ct);
    }
}
