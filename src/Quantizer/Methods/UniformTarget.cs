using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods;

/// <summary>Option checks and output assembly shared by the uniform-grid methods (rtn, gptq, septq).</summary>
internal static class UniformTarget
{
    /// <summary>Throws unless group size is −1 (one group per row) or positive.</summary>
    public static void CheckGroupSize(int groupSize)
    {
        if (groupSize == 0 || groupSize < -1)
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "group size must be -1 (one group per row) or positive");
    }

    /// <summary>
    /// The group size actually used: −1 means the whole row; a size above cols is clipped to cols.
    /// A size that does not divide cols is allowed: the last group of each row is shorter, as in
    /// GPTQ's code.
    /// </summary>
    public static int EffectiveGroupSize(int groupSize, int cols) => groupSize == -1 ? cols : Math.Min(groupSize, cols);

    /// <summary>
    /// Runs <paramref name="body"/> for 0..count−1 over the cores; a data error from any of them
    /// comes out as one <see cref="InvalidDataException"/> prefixed with the linear's name.
    /// </summary>
    public static void ParallelFor(string name, int count, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault() is InvalidDataException inner)
        {
            throw new InvalidDataException($"{name}: {inner.Message}", inner);
        }
    }

    /// <summary>
    /// Packs the result and computes its statistics. Paper bits follow the GPTQ paper's counting:
    /// b + 32 / g (a 16-bit scale and a 16-bit zero per group of g weights; g = cols per row), plus
    /// 32 bits (FP16 value + 16-bit index) per reserved weight for SEPTQ: b + 32/g + 32·p.
    /// </summary>
    public static QuantizedLinear Build(UniformWeights weights, float[] dequantized)
    {
        var payload = UniformLayout.Encode(weights);
        long count = (long)weights.Rows * weights.Cols, reserved = weights.ReservedIndex.Length;
        double fraction = (double)reserved / count;
        double paperBits = weights.Bits + 32.0 / weights.GroupSize + 32.0 * fraction;
        var stats = new LinearStats(GroupCount: 1, SaliencyRatio: fraction, SalientCount: reserved,
            SalientBits: reserved > 0 ? 16 : 0, PaperBitsPerWeight: paperBits);
        return new QuantizedLinear(payload, dequantized, stats);
    }
}
