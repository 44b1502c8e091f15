using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using JasperFx;
using Marten.Exceptions;
using Microsoft.Extensions.Options;
using Npgsql;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Vms;

public sealed record NewVm(string Name, int VCpus, int MemoryMiB);

/// <summary>A request that cannot be carried out; <see cref="Field"/> names the input at fault, if one is.</summary>
public sealed class VmRequestException(string message, string? field = null) : Exception(message)
{
    public string? Field { get; } = field;
}

/// <summary>The VM does not exist or is not the caller's: the same answer for both.</summary>
public sealed class VmNotFoundException() : Exception("No such VM.");

/// <summary>Decides what people ask of their VMs: load, decide, append, save, then tell the agent.</summary>
public sealed class VmService(
    IDocumentStore store,
    IOptions<PortalOptions> options,
    CommandDispatcher dispatcher,
    ChangeNotifier<VmChanged> notifier,
    TimeProvider clock)
{
    public const int MaxNameLength = 64;
    public const int MaxVCpus = 16;
    public const int MinMemoryMiB = 64;
    public const int MaxMemoryMiB = 65536;

    /// <summary>The VM when the caller may see it, otherwise null (never a hint that it exists).</summary>
    public static async Task<Vm?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        var vm = await session.LoadAsync<Vm>(id, ct);
        return vm is not null && MayUse(user, vm) ? vm : null;
    }

    public static bool MayUse(ClaimsPrincipal user, Vm vm) => vm.OwnerId == user.UserId() || user.IsAdmin();

    public static async Task<IReadOnlyList<Vm>> ListAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var owner = user.UserId();
        return await session.Query<Vm>().Where(v => v.OwnerId == owner).OrderBy(v => v.Name).ToListAsync(ct);
    }

    public static string? ValidateName(string? name)
    {
        var trimmed = name?.Trim() ?? "";
        if (trimmed.Length == 0)
        {
            return "Name: required.";
        }

        if (trimmed.Length > MaxNameLength)
        {
            return $"Name: at most {MaxNameLength} characters.";
        }

        return trimmed.Any(char.IsControl) ? "Name: no control characters." : null;
    }

    public static string? ValidateVCpus(int vcpus) =>
        vcpus is < 1 or > MaxVCpus ? $"vCPUs: between 1 and {MaxVCpus}." : null;

    public static string? ValidateMemory(int memoryMiB) =>
        memoryMiB is < MinMemoryMiB or > MaxMemoryMiB ? $"Memory: between {MinMemoryMiB} and {MaxMemoryMiB} MiB." : null;

    public async Task<Guid> CreateAsync(ClaimsPrincipal user, NewVm request, CancellationToken ct = default)
    {
        Check(ValidateName(request.Name), "name");
        Check(ValidateVCpus(request.VCpus), "vcpus");
        Check(ValidateMemory(request.MemoryMiB), "memory");

        var owner = user.UserId();
        var template = options.Value.Template;
        var name = request.Name.Trim();

        // A label collision (two creates drew the same pair) is retried with a fresh draw; the
        // database's unique index, not this process, is what makes the pair the VM's alone.
        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            if (await session.Query<Vm>().AnyAsync(v => v.OwnerId == owner && v.Name == name, ct))
            {
                throw NameTaken(name);
            }

            var host = await PickHostAsync(session, ct);
            var vmId = Guid.NewGuid();
            var labelIndex = RandomNumberGenerator.GetInt32(IsolationLabels.PairCount);
            var uid = IsolationLabels.UidFor(IsolationLabels.FromIndex(labelIndex), options.Value.VmUidBase);
            var now = clock.GetUtcNow();
            var created = new VmCreated(
                vmId, owner, name, template.Name, template.Image, request.VCpus, request.MemoryMiB, template.DiskBytes,
                VmSpec.DefaultMachineType, host.Id, labelIndex, uid, RandomMac(), owner, now);
            var operation = Guid.NewGuid();
            var spec = SpecOf(created);
            try
            {
                VmSpecValidator.Validate(spec);
            }
            catch (InvalidVmSpecException e)
            {
                throw new VmRequestException(e.Message);
            }

            session.Events.StartStream<Vm>(vmId, created, new VmOperationRequested(operation, VmVerb.Create, owner, now));
            session.Insert(NewCommand(operation, created.VmId, host.Id, new VmCommand(operation, vmId, VmVerb.Create, spec, StartAfterCreate: true), now));
            try
            {
                await session.SaveChangesAsync(ct);
            }
            catch (Exception e) when (UniqueViolation(e) is { } constraint)
            {
                if (constraint.Contains("label", StringComparison.Ordinal) && attempt < 5)
                {
                    continue;
                }

                throw NameTaken(name);
            }

            dispatcher.Wake();
            notifier.Publish(new VmChanged(vmId, owner));
            return vmId;
        }
    }

    /// <summary>Asks for <paramref name="verb"/> on the caller's VM; refuses with the reason when the VM's status does not allow it.</summary>
    public async Task RequestAsync(ClaimsPrincipal user, Guid vmId, VmVerb verb, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Vm>(vmId, ct);
        var vm = stream.Aggregate;
        if (vm is null || !MayUse(user, vm))
        {
            throw new VmNotFoundException();
        }

        if (VmRules.Refusal(vm, verb) is { } refusal)
        {
            throw new VmRequestException(refusal);
        }

        var now = clock.GetUtcNow();
        var operation = Guid.NewGuid();
        stream.AppendOne(new VmOperationRequested(operation, verb, user.UserId(), now));
        session.Insert(NewCommand(operation, vm.Id, vm.HostId, new VmCommand(operation, vm.Id, verb), now));
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new VmRequestException("The VM changed meanwhile; look at its status and try again.");
        }

        dispatcher.Wake();
        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
    }

    public static VmSpec SpecOf(VmCreated e) => new(
        e.VmId,
        e.VCpus,
        Math.Max(e.VCpus, 4),
        e.MemoryMiB,
        e.MachineType,
        e.Uid,
        [new DiskSpec("disk0", e.DiskBytes, e.BaseImage)],
        [new NicSpec("net0", e.Mac)]);

    private static AgentCommand NewCommand(Guid operation, Guid vmId, Guid hostId, VmCommand command, DateTimeOffset now) => new()
    {
        Id = operation,
        VmId = vmId,
        HostId = hostId,
        Command = command,
        State = AgentCommandState.Pending,
        CreatedAt = now,
    };

    private static async Task<HostRecord> PickHostAsync(IQuerySession session, CancellationToken ct)
    {
        // Placement policy (overcommit, spread/pack) comes with several hosts; for now the biggest connected host.
        var hosts = await session.Query<HostRecord>().Where(h => h.Connected).OrderByDescending(h => h.MemoryBytes).ToListAsync(ct);
        return hosts.FirstOrDefault()
            ?? throw new VmRequestException("No host is connected to run the VM. Ask an admin to start a host agent.");
    }

    private static string RandomMac()
    {
        // 52:54:00 is QEMU's locally administered prefix.
        var b = RandomNumberGenerator.GetBytes(3);
        return $"52:54:00:{b[0]:x2}:{b[1]:x2}:{b[2]:x2}";
    }

    private static void Check(string? problem, string field)
    {
        if (problem is not null)
        {
            throw new VmRequestException(problem, field);
        }
    }

    private static VmRequestException NameTaken(string name) => new($"Name: you already have a VM called '{name}'.", "name");

    private static string? UniqueViolation(Exception e)
    {
        for (var inner = (Exception?)e; inner is not null; inner = inner.InnerException)
        {
            if (inner is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } pg)
            {
                return pg.ConstraintName ?? pg.MessageText;
            }

            if (inner is DocumentAlreadyExistsException or Marten.Exceptions.ExistingStreamIdCollisionException or JasperFx.Events.ExistingStreamIdCollisionException)
            {
                return "stream";
            }
        }

        return null;
    }
}
