using System.Runtime.Intrinsics.X86;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed class UniformCpuLinearTests
{
    /// <summary>(rows, cols, bits, group size (0 = per row), reserved weights).</summary>
    public static TheoryData<int, int, int, int, int> Shapes => new()
    {
        { 1, 32, 8, 32, 0 },
        { 3, 64, 4, 32, 2 },
        { 17, 96, 2, 32, 5 },
        { 3, 128, 8, 64, 0 },
        { 17, 128, 4, 128, 0 },
        { 1, 512, 4, 0, 3 },
        { 3, 512, 8, 128, 4 },
        { 17, 512, 2, 64, 0 },
        { 3, 1408, 4, 128, 7 },
        { 1, 1408, 8, 0, 0 },
        { 3, 1408, 2, 128, 2 },
        { 17, 96, 4, 64, 0 },   // last group shorter (96 = 64 + 32)
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ProductIsWithinTheInt8ActivationBound(int rows, int cols, int bits, int groupSize, int reserved)
    {
        groupSize = groupSize == 0 ? cols : groupSize;
        var weights = CpuTestPack.RandomUniform(rows, cols, bits, groupSize, reserved, seed: rows * 1000 + cols + bits);
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["w"] = UniformLayout.Encode(weights) });
        const int tokens = 3;
        var x = CpuTestPack.RandomInput(tokens, cols, seed: cols);
        using var linear = UniformCpuLinear.Create(pack.Pack, "w", tokens);
        Assert.Equal(reserved, linear.ReservedCount);

        var y = new float[tokens * rows];
        linear.MultiplyAll(x, tokens, y);
        var portable = new float[tokens * rows];
        linear.MultiplyWith(avx2: false, portable, 0, rows);

        var dense = pack.Dense["w"];
        var expected = CpuTestPack.DenseProduct(dense, rows, cols, x, tokens);
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double bound = Int8Bound(weights, r, x.AsSpan(t * cols, cols));
                int i = t * rows + r;
                Assert.True(Math.Abs(y[i] - expected[i]) <= bound, $"token {t} row {r}: {y[i]} vs {expected[i]}, bound {bound}");
                Assert.True(Math.Abs(portable[i] - expected[i]) <= bound, $"portable token {t} row {r}: {portable[i]} vs {expected[i]}, bound {bound}");
            }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void PairedNibbleBlocksAgreeWithOneBlockAtATime(int rows, int cols, int bits, int groupSize, int reserved)
    {
        if (!(Avx2.IsSupported && Fma.IsSupported)) return;   // an AVX2 path; other machines never run it
        groupSize = groupSize == 0 ? cols : groupSize;
        var weights = CpuTestPack.RandomUniform(rows, cols, bits, groupSize, reserved, seed: rows * 1000 + cols + bits + 1);
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["w"] = UniformLayout.Encode(weights) });
        const int tokens = 2;
        var x = CpuTestPack.RandomInput(tokens, cols, seed: cols + 1);
        using var linear = UniformCpuLinear.Create(pack.Pack, "w", tokens);
        linear.Prepare(x, tokens);
        var paired = new float[tokens * rows];
        var single = new float[tokens * rows];
        linear.MultiplyWith(avx2: true, paired, 0, rows);
        linear.MultiplyWith(avx2: true, single, 0, rows, pairedNibbles: false);
        // The same exact block sums; the pairs add two blocks' planes in integers before one conversion and one
        // multiply-add, so only the float roundings differ (a few epsilons of the terms' magnitude).
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                int i = t * rows + r;
                double bound = 1e-6 * Magnitude(weights, r, x.AsSpan(t * cols, cols)) + 1e-7;
                Assert.True(Math.Abs(paired[i] - single[i]) <= bound, $"token {t} row {r}: {paired[i]} vs {single[i]}, bound {bound}");
            }
    }

    /// <summary>
    /// The error bound of int8 activations. Each block b of 32 inputs is stored as d_b·q with
    /// d_b = max_b|x| / 127 and q = round(x / d_b), |q| ≤ 127, so no value is clipped and
    /// |x_c − d_b·q_c| ≤ d_b / 2 = max_b|x| / 254. Reserved weights multiply the unquantized input, so
    /// |y − W·x| ≤ Σ_b (max_b|x| / 254)·Σ_{c∈b, c not reserved} |w_c|. On top come float roundings: the
    /// kernel sums code·q and z·Σq apart (y = Σ s·(Σ code·q − z·Σq)·d), so their size is
    /// M = Σ_c |s|·(code_c + z)·|x_c|, and 1e-5·M is ~100 float epsilons of it.
    /// </summary>
    private static double Int8Bound(UniformWeights w, int row, ReadOnlySpan<float> x)
    {
        var reserved = new HashSet<long>(w.ReservedIndex.Select(i => (long)i));
        double quantization = 0;
        for (int b = 0; b < w.Cols / 32; b++)
        {
            double max = 0, absWeights = 0;
            for (int c = b * 32; c < b * 32 + 32; c++)
            {
                max = Math.Max(max, Math.Abs(x[c]));
                int slot = row * w.GroupsPerRow + w.GroupOf(c);
                if (!reserved.Contains((long)row * w.Cols + c))
                    absWeights += Math.Abs(UniformLayout.Dequantize((float)w.Scales[slot], w.Codes[row * w.Cols + c], w.Zeros[slot]));
            }
            quantization += max / 254 * absWeights;
        }
        return quantization + 1e-5 * Magnitude(w, row, x) + 1e-6;
    }

    /// <summary>M = Σ_c |s|·(code_c + z)·|x_c|: the size of the terms the kernel adds up in floats.</summary>
    private static double Magnitude(UniformWeights w, int row, ReadOnlySpan<float> x)
    {
        double magnitude = 0;
        for (int c = 0; c < w.Cols; c++)
        {
            int slot = row * w.GroupsPerRow + w.GroupOf(c);
            magnitude += Math.Abs((double)w.Scales[slot]) * (w.Codes[row * w.Cols + c] + w.Zeros[slot]) * Math.Abs(x[c]);
        }
        return magnitude;
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    [InlineData(2)]
    public unsafe void BlockDotsAreExactAgainstTheScalarReference(int bits)
    {
        var random = new Random(bits);
        int max = (1 << bits) - 1, bytes = UniformBlockKernels.BlockBytes(bits);
        var q = new sbyte[32];
        var permuted = new sbyte[32];
        for (int trial = 0; trial < 200; trial++)
        {
            var codes = new byte[32];
            for (int i = 0; i < 32; i++) codes[i] = (byte)random.Next(max + 1);
            // The extremes: every code at its maximum against ±127, where a saturating int16 pair sum would show.
            if (trial == 0) Array.Fill(codes, (byte)max);
            for (int i = 0; i < 32; i++) q[i] = trial switch { 0 => 127, 1 => -127, _ => (sbyte)random.Next(-127, 128) };
            if (trial == 1) Array.Fill(codes, (byte)max);
            var packed = BitPacking.PackBits(codes, bits);
            Assert.Equal(bytes, packed.Length);
            UniformBlockKernels.PermuteBlock(q, permuted, bits);
            int expected = 0;
            for (int i = 0; i < 32; i++) expected += codes[i] * q[i];
            fixed (byte* c = packed)
            fixed (sbyte* natural = q, plane = permuted)
            {
                Assert.Equal(expected, UniformBlockKernels.DotScalar(c, natural, bits));
                Assert.Equal(expected, UniformBlockKernels.DotPortable(c, plane, bits));
                if (Avx2.IsSupported) Assert.Equal(expected, UniformBlockKernels.DotAvx2(c, plane, bits));
            }
        }
    }

    [Fact]
    public void MultiTokenEqualsTokenByTokenAndRowRangesTouchOnlyTheirRows()
    {
        const int rows = 17, cols = 512, tokens = 5;
        var weights = CpuTestPack.RandomUniform(rows, cols, 4, 128, 6, seed: 3);
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["w"] = UniformLayout.Encode(weights) });
        using var linear = UniformCpuLinear.Create(pack.Pack, "w", tokens);
        var x = CpuTestPack.RandomInput(tokens, cols, seed: 9);

        var batch = new float[tokens * rows];
        Array.Fill(batch, float.NaN);
        linear.Prepare(x, tokens);
        linear.Multiply(batch, 0, 8);
        Assert.All(Enumerable.Range(0, tokens), t => Assert.True(float.IsNaN(batch[t * rows + 8]), "row 8 was written by the range [0, 8)"));
        linear.Multiply(batch, 8, rows);

        var single = new float[rows];
        for (int t = 0; t < tokens; t++)
        {
            linear.MultiplyAll(x.AsSpan(t * cols, cols), 1, single);
            Assert.Equal(single, batch.AsSpan(t * rows, rows).ToArray());
        }
    }

    [Fact]
    public void DecodeRowEqualsTheDenseRow()
    {
        const int rows = 3, cols = 96;
        foreach (int bits in new[] { 8, 4, 2 })
        {
            var weights = CpuTestPack.RandomUniform(rows, cols, bits, 32, 4, seed: bits);
            using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["w"] = UniformLayout.Encode(weights) });
            using var linear = UniformCpuLinear.Create(pack.Pack, "w", 1);
            var row = new float[cols];
            for (int r = 0; r < rows; r++)
            {
                linear.DecodeRow(r, row);
                Assert.Equal(pack.Dense["w"].AsSpan(r * cols, cols).ToArray(), row);
            }
        }
    }

    [Theory]
    [InlineData(3, 32, false, "bits 3")]
    [InlineData(4, 48, false, "group size 48")]
    [InlineData(4, 32, true, "act-order group index")]
    public void UnsupportedVariantsThrowNotSupported(int bits, int groupSize, bool actOrder, string reason)
    {
        var weights = CpuTestPack.RandomUniform(2, 96, bits, groupSize, 0, seed: 1, actOrder);
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["w"] = UniformLayout.Encode(weights) });
        var e = Assert.Throws<NotSupportedException>(() => UniformCpuLinear.Create(pack.Pack, "w", 1));
        Assert.Contains("'w'", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void MisuseIsReported()
    {
        var weights = CpuTestPack.RandomUniform(2, 64, 8, 32, 0, seed: 2);
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["w"] = UniformLayout.Encode(weights) });
        using var linear = UniformCpuLinear.Create(pack.Pack, "w", 2);
        var y = new float[6];
        Assert.Throws<InvalidOperationException>(() => linear.Multiply(y, 0, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Prepare(new float[192], 3));
        Assert.Throws<ArgumentException>(() => linear.Prepare(new float[100], 2));
        linear.Prepare(new float[128], 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Multiply(y, 0, 3));
        Assert.Throws<ArgumentException>(() => linear.Multiply(new float[3], 0, 2));
        Assert.Throws<KeyNotFoundException>(() => UniformCpuLinear.Create(pack.Pack, "missing", 1));
    }
}
