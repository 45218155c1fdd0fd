namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The int8 activation format every integer kernel reads (DESIGN.md §6): a vector is cut into blocks of
/// <c>blockSize</c> values from index 0 (the last block may be shorter); each block stores
/// q = round(x / d) with d = max|x| / 127 (d = 0 and q = 0 for an all-zero block), its scale d, and the
/// sum Σq of its codes, which the sign kernels need for Σ±x = 2·Σ[bit]·q − Σq.
/// </summary>
public static class ActivationQuantizer
{
    /// <summary>Blocks of <paramref name="blockSize"/> in <paramref name="length"/> values.</summary>
    public static int BlockCount(int length, int blockSize) => (length + blockSize - 1) / blockSize;

    /// <summary>Quantizes <paramref name="x"/>; <paramref name="scales"/> and <paramref name="sums"/> hold one entry per block.</summary>
    public static void Quantize(ReadOnlySpan<float> x, int blockSize, Span<sbyte> q, Span<float> scales, Span<int> sums)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        int blocks = BlockCount(x.Length, blockSize);
        if (q.Length < x.Length || scales.Length < blocks || sums.Length < blocks)
            throw new ArgumentException($"buffers too small for {x.Length} values in {blocks} blocks");
        for (int b = 0; b < blocks; b++)
        {
            int start = b * blockSize, length = Math.Min(blockSize, x.Length - start);
            var block = x.Slice(start, length);
            float max = 0;
            foreach (float v in block) max = Math.Max(max, Math.Abs(v));
            float d = max / 127f;
            float inverse = d == 0 ? 0 : 1f / d;
            int sum = 0;
            for (int i = 0; i < length; i++)
            {
                int code = (int)MathF.Round(block[i] * inverse);
                q[start + i] = (sbyte)code;
                sum += code;
            }
            scales[b] = d;
            sums[b] = sum;
        }
    }
}
