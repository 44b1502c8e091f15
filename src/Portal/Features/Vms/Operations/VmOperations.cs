using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms.Operations;

// What people ask of an existing VM: one record per operation (shown to them as a task). Each is
// decided by a pure function in VmDecide and carried out by its handler in VmService.Operations.

/// <summary>Something asked of VM <paramref name="VmId"/>; <see cref="Verb"/> is how the agent's contract and the VM's history name it.</summary>
public abstract record VmOperation(Guid VmId)
{
    public abstract VmVerb Verb { get; }
}

/// <summary>An operation that is its verb alone: the power verbs, save and restore, and delete.</summary>
public abstract record SimpleOperation(Guid VmId) : VmOperation(VmId)
{
    /// <summary>The operation for <paramref name="verb"/>, when it is one of the simple ones; null otherwise.</summary>
    public static SimpleOperation? Of(Guid vmId, VmVerb verb) => verb switch
    {
        VmVerb.Start => new StartVm(vmId),
        VmVerb.Shutdown => new ShutdownVm(vmId),
        VmVerb.PowerOff => new PowerOffVm(vmId),
        VmVerb.Reset => new ResetVm(vmId),
        VmVerb.Reboot => new RebootVm(vmId),
        VmVerb.Pause => new PauseVm(vmId),
        VmVerb.Resume => new ResumeVm(vmId),
        VmVerb.Save => new SaveVm(vmId),
        VmVerb.Restore => new RestoreVm(vmId),
        VmVerb.Delete => new DeleteVm(vmId),
        VmVerb.StopTyping => new StopTyping(vmId),
        _ => null,
    };
}

public sealed record StartVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Start;
}

public sealed record ShutdownVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Shutdown;
}

public sealed record PowerOffVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.PowerOff;
}

public sealed record ResetVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Reset;
}

public sealed record RebootVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Reboot;
}

public sealed record PauseVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Pause;
}

public sealed record ResumeVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Resume;
}

/// <summary>Writes the whole running state to disk: its bytes are admitted as disk would be.</summary>
public sealed record SaveVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Save;
}

public sealed record RestoreVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Restore;
}

public sealed record DeleteVm(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Delete;
}

/// <summary>Sends one of <see cref="VmService.KeyCombinations"/>, by the name the console's menu shows.</summary>
public sealed record SendKeys(Guid VmId, string Combination) : VmOperation(VmId)
{
    public override VmVerb Verb => VmVerb.SendKeys;
}

/// <summary>Types <paramref name="Text"/> into the VM's keyboard, on the layout its settings name.</summary>
public sealed record TypeText(Guid VmId, string Text) : VmOperation(VmId)
{
    public override VmVerb Verb => VmVerb.TypeText;
}

/// <summary>Sets guest user <paramref name="User"/>'s password through the guest agent; the password is hashed before it is kept or sent.</summary>
public sealed record SetGuestPassword(Guid VmId, string User, string Password) : VmOperation(VmId)
{
    public override VmVerb Verb => VmVerb.SetGuestPassword;

    /// <summary>Never the password: records print themselves into logs.</summary>
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("VmId = ").Append(VmId).Append(", User = ").Append(User);
        return true;
    }
}

/// <summary>Edits the guest's cloud-init setup; it takes effect at the next boot.</summary>
public sealed record ConfigureGuest(Guid VmId, GuestSetup Setup) : VmOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Configure;

    /// <summary>Never the setup: it may hold a password and the owner's user-data.</summary>
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("VmId = ").Append(VmId);
        return true;
    }
}

/// <summary>Stops what is being typed into the VM.</summary>
public sealed record StopTyping(Guid VmId) : SimpleOperation(VmId)
{
    public override VmVerb Verb => VmVerb.StopTyping;
}

/// <summary>An operation on the snapshot called <paramref name="Name"/>.</summary>
public abstract record SnapshotOperation(Guid VmId, string Name) : VmOperation(VmId);

/// <summary>With the guest's memory when the VM runs or is paused (admitted as disk), of the disks alone when it is stopped.</summary>
public sealed record TakeSnapshot(Guid VmId, string Name) : SnapshotOperation(VmId, Name)
{
    public override VmVerb Verb => VmVerb.Snapshot;
}

public sealed record RevertSnapshot(Guid VmId, string Name) : SnapshotOperation(VmId, Name)
{
    public override VmVerb Verb => VmVerb.RevertSnapshot;
}

public sealed record DeleteSnapshot(Guid VmId, string Name) : SnapshotOperation(VmId, Name)
{
    public override VmVerb Verb => VmVerb.DeleteSnapshot;
}

/// <summary>Puts library ISO <paramref name="ImageId"/> into the CD-ROM drive, or ejects the disc when null.</summary>
public sealed record ChangeMedium(Guid VmId, Guid? ImageId) : VmOperation(VmId)
{
    public override VmVerb Verb => VmVerb.ChangeMedium;
}

/// <summary>Adds, removes or grows a disk or NIC, sets the vCPUs or the balloon: hot when the VM runs, kept for every later boot.</summary>
public sealed record ChangeHardware(Guid VmId, HardwareChange Change) : VmOperation(VmId)
{
    public override VmVerb Verb => VmVerb.ChangeHardware;
}

/// <summary>Changes the VM's settings; the agent gets them at once (restart policy) or at the next boot.</summary>
public sealed record ConfigureVm(Guid VmId, VmSettings Settings) : VmOperation(VmId)
{
    public override VmVerb Verb => VmVerb.Configure;
}
