namespace SagePtq.Quantizer.Pipeline;

/// <summary>
/// One seed per linear, derived from the run's seed and the linear's name (FNV-1a), so each
/// matrix draws its own random numbers and the result does not depend on the order of work.
/// </summary>
internal static class LinearSeeds
{
    public static ulong For(ulong runSeed, string linearName)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (char ch in linearName)
        {
            hash ^= ch;
            hash *= 0x100000001B3UL;
        }
        return hash ^ (runSeed * 0x9E3779B97F4A7C15UL);
    }
}
