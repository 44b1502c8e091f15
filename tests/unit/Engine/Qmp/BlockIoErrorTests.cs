using System.Text.Json;
using Paddock.Engine.Qmp;

namespace Paddock.Unit.Engine.Qmp;

public sealed class BlockIoErrorTests
{
    private static QmpEvent Event(string name, string data) => new(name, JsonDocument.Parse(data).RootElement, DateTimeOffset.UnixEpoch);

    [Fact]
    public void A_write_that_met_a_full_file_system_and_stopped_the_guest_is_a_pause_for_room()
    {
        // As QEMU 7.2 sends it for a virtio-blk drive on a full ext4 (werror=enospc by default).
        var error = BlockIoError.From(Event("BLOCK_IO_ERROR",
            """{"device": "", "node-name": "disk0-fmt", "reason": "No space left on device", "operation": "write", "action": "stop", "nospace": true}"""));
        Assert.NotNull(error);
        Assert.True(error.PausedForRoom);
        Assert.Equal("disk0-fmt", error.Device);
        Assert.Equal("write", error.Operation);
    }

    [Fact]
    public void An_error_reported_to_the_guest_or_not_for_space_is_no_pause_for_room_and_other_events_are_none()
    {
        Assert.False(BlockIoError.From(Event("BLOCK_IO_ERROR", """{"device": "drive0", "operation": "write", "action": "report", "nospace": true}"""))!.PausedForRoom);
        Assert.False(BlockIoError.From(Event("BLOCK_IO_ERROR", """{"device": "drive0", "operation": "read", "action": "stop", "nospace": false}"""))!.PausedForRoom);
        Assert.False(BlockIoError.From(Event("BLOCK_IO_ERROR", """{"operation": 7, "action": ["stop"]}"""))!.PausedForRoom);
        Assert.Null(BlockIoError.From(Event("STOP", "{}")));
    }
}
