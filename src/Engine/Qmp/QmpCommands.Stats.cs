namespace Paddock.Engine.Qmp;

/// <summary>What the agent samples of a running VM every few seconds (qapi/block-core.json, qapi/machine.json).</summary>
public static partial class QmpCommands
{
    public static async Task<IReadOnlyList<QmpBlockStats>> QueryBlockStatsAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpBlockStats.ListFrom(await qmp.ExecuteAsync("query-blockstats", null, ct, timeout).ConfigureAwait(false));

    /// <summary>The balloon's size now; QEMU answers an error (DeviceNotActive) for a VM without a balloon.</summary>
    public static async Task<QmpBalloon> QueryBalloonAsync(this QmpClient qmp, CancellationToken ct = default, TimeSpan? timeout = null) =>
        QmpBalloon.From(await qmp.ExecuteAsync("query-balloon", null, ct, timeout).ConfigureAwait(false));
}
