namespace Paddock.Engine.Isolation;

// Placeholder until the engine branch lands its IsolationLabels.
public static class IsolationLabels
{
    public const int PairCount = 1024 * 1023 / 2;

    public static string FromIndex(int index) => $"s0:c{index}";
}
