using SagePtq.Runtime.Generation;

namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// The seeded <see cref="SplitMix64"/> stream every random choice of SAGE-PTQ draws from, shared by
/// reference between the steps of one matrix, with the integer and sampling helpers they need.
/// </summary>
internal sealed class SeededRandom(ulong seed)
{
    private SplitMix64 _source = new(seed);

    public ulong NextUInt64() => _source.NextUInt64();

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => _source.NextDouble();

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
