using System.Collections.Concurrent;

namespace Paddock.Engine.Recipes;

/// <summary>
/// The devices one QEMU was asked to unplug, by qdev id: <see cref="Hotplug"/> waits on them, and
/// whoever reads that QEMU's events calls <see cref="Deleted"/> on DEVICE_DELETED (a QMP client's
/// events have one reader).
/// </summary>
public sealed class DeviceRemovals
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiting = new();

    /// <summary>Completes when the guest has let go of <paramref name="deviceId"/>.</summary>
    public Task Expect(string deviceId) =>
        _waiting.GetOrAdd(deviceId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Deleted(string deviceId)
    {
        if (_waiting.TryRemove(deviceId, out var gone))
        {
            gone.TrySetResult();
        }
    }

    /// <summary>Stops waiting for <paramref name="deviceId"/> (the guest did not let go in time).</summary>
    public void Forget(string deviceId) => _waiting.TryRemove(deviceId, out _);
}
