using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// The seeded randomized Hadamard rotation R = H_b·D of a linear's input space (incoherence
/// processing, DESIGN.md §5): D = diag(±1) drawn from the seed (SplitMix64, bit j of draw j/64,
/// bit 1 = −1), H_b the blockwise Walsh–Hadamard transform with block b = the largest power of two
/// dividing cols, scaled by 1/√b so R is orthogonal. Rows of W become rows of W' = W·Rᵀ by
/// <see cref="Forward(Span{float}, ulong)"/>, and come back by <see cref="Inverse(Span{float}, ulong)"/>.
/// </summary>
public static class RandomizedHadamard
{
    /// <summary>The block size used for <paramref name="cols"/> input columns.</summary>
    public static int BlockSize(int cols) => cols <= 0 ? 1 : cols & -cols;

    /// <summary>The ±1 signs of D for <paramref name="cols"/> columns.</summary>
    public static float[] Signs(int cols, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var signs = new float[cols];
        ulong word = 0;
        for (int j = 0; j < cols; j++)
        {
            if (j % 64 == 0) word = rng.NextUInt64();
            signs[j] = ((word >> (j % 64)) & 1) != 0 ? -1f : 1f;
        }
        return signs;
    }

    /// <summary>Row w (length cols) → w·Rᵀ = H_b(D w).</summary>
    public static void Forward(Span<float> row, ReadOnlySpan<float> signs)
    {
        for (int j = 0; j < row.Length; j++) row[j] *= signs[j];
        Transform(row);
    }

    /// <summary>Row w' → w'·R = D(H_b w'), undoing <see cref="Forward(Span{float}, ReadOnlySpan{float})"/>.</summary>
    public static void Inverse(Span<float> row, ReadOnlySpan<float> signs)
    {
        Transform(row);
        for (int j = 0; j < row.Length; j++) row[j] *= signs[j];
    }

    /// <summary>Convenience overload drawing the signs from the seed.</summary>
    public static void Forward(Span<float> row, ulong seed) => Forward(row, Signs(row.Length, seed));

    /// <summary>Convenience overload drawing the signs from the seed.</summary>
    public static void Inverse(Span<float> row, ulong seed) => Inverse(row, Signs(row.Length, seed));

    /// <summary>Double-precision w·Rᵀ, for rotating a Hessian (H' = R H Rᵀ).</summary>
    public static void Forward(Span<double> row, ReadOnlySpan<float> signs)
    {
        for (int j = 0; j < row.Length; j++) row[j] *= signs[j];
        int b = BlockSize(row.Length);
        double norm = 1 / Math.Sqrt(b);
        for (int start = 0; start < row.Length; start += b)
        {
            var block = row.Slice(start, b);
            for (int h = 1; h < b; h <<= 1)
                for (int i = 0; i < b; i += h << 1)
                    for (int j = i; j < i + h; j++)
                    {
                        double x = block[j], y = block[j + h];
                        block[j] = x + y; block[j + h] = x - y;
                    }
            for (int j = 0; j < b; j++) block[j] *= norm;
        }
    }

    /// <summary>The orthonormal blockwise Walsh–Hadamard transform, in place (its own inverse).</summary>
    public static void Transform(Span<float> row)
    {
        int b = BlockSize(row.Length);
        float norm = (float)(1 / Math.Sqrt(b));
        for (int start = 0; start < row.Length; start += b)
        {
            var block = row.Slice(start, b);
            for (int h = 1; h < b; h <<= 1)
                for (int i = 0; i < b; i += h << 1)
                    for (int j = i; j < i + h; j++)
                    {
                        float x = block[j], y = block[j + h];
                        block[j] = x + y; block[j + h] = x - y;
                    }
            for (int j = 0; j < b; j++) block[j] *= norm;
        }
    }
}
