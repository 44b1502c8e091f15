using System.Text.Json;

namespace Paddock.Engine.Qmp;

/// <summary>
/// An asynchronous QMP event (<c>{"event": "SHUTDOWN", "data": {...}, "timestamp": {...}}</c>).
/// <see cref="Data"/> is an empty object when QEMU sent none. Strings inside come from QEMU and,
/// through it, from the guest: treat them as hostile text.
/// </summary>
public sealed record QmpEvent(string Name, JsonElement Data, DateTimeOffset Timestamp);
