namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// SplitMix64: a generator defined by its arithmetic alone, so a seed gives the same draws on every
/// .NET version (<see cref="Random"/> promises no such thing). Every random choice of SAGE-PTQ uses it.
/// </summary>
internal sealed class SeededRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int Next(int n) => (int)(NextUInt64() % (ulong)n);

    /// <summary><paramref name="count"/> distinct indices of [0, n), ascending (partial Fisher–Yates).</summary>
    public int[] Sample(int n, int count)
    {
        if (count >= n) return Enumerable.Range(0, n).ToArray();
        var pool = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < count; i++)
        {
            int j = i + Next(n - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var chosen = pool[..count];
        Array.Sort(chosen);
        return chosen;
    }
}
