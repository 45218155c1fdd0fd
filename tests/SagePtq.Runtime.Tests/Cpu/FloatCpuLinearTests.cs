using System.Runtime.Intrinsics;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Runtime.Tests.Cpu;

/// <summary><see cref="HalfCpuLinear"/> (f16 linears, f16 and f32 tensors), <see cref="DecodedCpuLinear"/> and the <see cref="CpuLinears"/> factory.</summary>
public sealed class FloatCpuLinearTests
{
    /// <summary>
    /// FP32 accumulation of n products in chunks and 8 lanes: each partial sum is rounded at most ~n times,
    /// so |error| ≤ ~n·2⁻²⁴·Σ|w·x|; with n ≤ 1408 that is ≤ 1e-4·Σ|w·x|, and in practice far less.
    /// 2e-6 relative keeps the check sharp (a wrong element shows at ~1/cols of Σ|w·x|).
    /// </summary>
    private const double FloatTolerance = 2e-6;

    private static float[] Values(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    private static void AssertClose(float[] dense, int rows, int cols, float[] x, int tokens, float[] y, double relative)
    {
        var expected = CpuTestPack.DenseProduct(dense, rows, cols, x, tokens);
        var scale = CpuTestPack.AbsoluteProduct(dense, rows, cols, x, tokens);
        for (int i = 0; i < y.Length; i++)
            Assert.True(Math.Abs(y[i] - expected[i]) <= relative * scale[i] + 1e-6, $"output {i}: {y[i]} vs {expected[i]}");
    }

    [Theory]
    [InlineData(1, 32)]
    [InlineData(3, 37)]
    [InlineData(17, 300)]
    [InlineData(5, 1408)]
    [InlineData(3, 512)]
    public void HalfLinearsAndTensorsMatchTheDenseProduct(int rows, int cols)
    {
        var weights = Values(rows * cols, rows + cols);
        var linears = new Dictionary<string, LinearPayload> { ["lin"] = F16Layout.Encode(weights, rows, cols).Payload };
        var tensors = new Dictionary<string, (float[], long[])> { ["tensor"] = (weights, new long[] { rows, cols }) };
        const int tokens = 3;
        var x = CpuTestPack.RandomInput(tokens, cols, seed: cols);
        foreach (var type in new[] { PackDataType.Float16, PackDataType.Float32 })
        {
            using var pack = CpuTestPack.Write(linears, tensors, type);
            using var linear = HalfCpuLinear.FromLinear(pack.Pack, "lin", tokens);
            using var tensor = HalfCpuLinear.FromTensor(pack.Pack, "tensor", tokens);
            Assert.True(linear.IsHalf);
            Assert.Equal(type == PackDataType.Float16, tensor.IsHalf);
            foreach (var (name, kernel) in new[] { ("lin", (CpuLinear)linear), ("tensor", tensor) })
            {
                var y = new float[tokens * rows];
                kernel.MultiplyAll(x, tokens, y);
                AssertClose(pack.Dense[name], rows, cols, x, tokens, y, FloatTolerance);

                var single = new float[rows];
                var row = new float[cols];
                for (int t = 0; t < tokens; t++)
                {
                    kernel.MultiplyAll(x.AsSpan(t * cols, cols), 1, single);
                    Assert.Equal(y.AsSpan(t * rows, rows).ToArray(), single);
                }
                for (int r = 0; r < rows; r++)
                {
                    kernel.DecodeRow(r, row);
                    Assert.Equal(pack.Dense[name].AsSpan(r * cols, cols).ToArray(), row);
                }
            }
        }
    }

    [Fact]
    public void RowRangesOfAHalfLinearTouchOnlyTheirRows()
    {
        const int rows = 9, cols = 40, tokens = 2;
        var weights = Values(rows * cols, 5);
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["lin"] = F16Layout.Encode(weights, rows, cols).Payload });
        using var linear = HalfCpuLinear.FromLinear(pack.Pack, "lin", tokens);
        var x = CpuTestPack.RandomInput(tokens, cols, seed: 1);
        var whole = new float[tokens * rows];
        linear.MultiplyAll(x, tokens, whole);
        var parts = Enumerable.Repeat(float.NaN, tokens * rows).ToArray();
        linear.Prepare(x, tokens);
        linear.Multiply(parts, 4, 8);
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
                Assert.Equal(r is >= 4 and < 8 ? whole[t * rows + r] : float.NaN, parts[t * rows + r]);
    }

    [Fact]
    public void DecodedLinearsMatchTheDenseProductWithinFp16Rounding()
    {
        const int rows = 5, cols = 96, tokens = 2;
        var weights = CpuTestPack.RandomUniform(rows, cols, 4, 32, 3, seed: 4, actOrder: true);
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["w"] = UniformLayout.Encode(weights) });
        var x = CpuTestPack.RandomInput(tokens, cols, seed: 2);
        var dense = pack.Dense["w"];
        using (var half = DecodedCpuLinear.Create(pack.Pack, "w", tokens))
        {
            Assert.True(half.IsHalf);
            Assert.Equal("uniform", half.Layout);
            Assert.Equal((long)rows * cols * 2, half.WeightBytes);
            var y = new float[tokens * rows];
            half.MultiplyAll(x, tokens, y);
            // Each weight rounded to FP16: relative error ≤ 2⁻¹¹ of |w|, so ≤ 2⁻¹¹·Σ|w·x| per output.
            AssertClose(dense, rows, cols, x, tokens, y, Math.Pow(2, -11) + FloatTolerance);
            var row = new float[cols];
            half.DecodeRow(1, row);
            Assert.Equal(dense.AsSpan(cols, cols).ToArray().Select(v => (float)(Half)v).ToArray(), row);
        }
        using (var single = DecodedCpuLinear.Create(pack.Pack, "w", tokens, keepSingle: true))
        {
            Assert.False(single.IsHalf);
            var y = new float[tokens * rows];
            single.MultiplyAll(x, tokens, y);
            AssertClose(dense, rows, cols, x, tokens, y, FloatTolerance);
            var row = new float[cols];
            single.DecodeRow(4, row);
            Assert.Equal(dense.AsSpan(4 * cols, cols).ToArray(), row);
        }
    }

    [Fact]
    public void TheFactoryPicksTheKernelOfEachEntry()
    {
        var linears = new Dictionary<string, LinearPayload>
        {
            ["uniform4"] = UniformLayout.Encode(CpuTestPack.RandomUniform(3, 64, 4, 32, 1, seed: 1)),
            ["uniform8"] = UniformLayout.Encode(CpuTestPack.RandomUniform(3, 64, 8, 64, 0, seed: 2)),
            ["uniform3"] = UniformLayout.Encode(CpuTestPack.RandomUniform(3, 64, 3, 32, 0, seed: 3)),
            ["act_order"] = UniformLayout.Encode(CpuTestPack.RandomUniform(3, 64, 4, 32, 0, seed: 4, actOrder: true)),
            ["odd_group"] = UniformLayout.Encode(CpuTestPack.RandomUniform(3, 64, 4, 48, 0, seed: 5)),
            ["f16"] = F16Layout.Encode(Values(3 * 64, 6), 3, 64).Payload,
        };
        var tensors = new Dictionary<string, (float[], long[])>
        {
            ["head"] = (Values(3 * 64, 7), new long[] { 3, 64 }),
            ["norm"] = (Values(64, 8), new long[] { 64 }),
        };
        using var pack = CpuTestPack.Write(linears, tensors);
        var expected = new Dictionary<string, Type>
        {
            ["uniform4"] = typeof(UniformCpuLinear),
            ["uniform8"] = typeof(UniformCpuLinear),
            ["uniform3"] = typeof(DecodedCpuLinear),
            ["act_order"] = typeof(DecodedCpuLinear),
            ["odd_group"] = typeof(DecodedCpuLinear),
            ["f16"] = typeof(HalfCpuLinear),
            ["head"] = typeof(HalfCpuLinear),
        };
        var x = CpuTestPack.RandomInput(1, 64, seed: 3);
        foreach (var (name, type) in expected)
        {
            using var linear = CpuLinears.Open(pack.Pack, name, 4);
            Assert.IsType(type, linear);
            Assert.Equal((name, 3, 64, 4), (linear.Name, linear.Rows, linear.Cols, linear.MaxTokens));
            // Whatever the kernel, the product is the dense one (within the int8 or FP16 error).
            var y = new float[3];
            linear.MultiplyAll(x, 1, y);
            var dense = CpuTestPack.DenseProduct(pack.Dense[name], 3, 64, x, 1);
            var scale = CpuTestPack.AbsoluteProduct(pack.Dense[name], 3, 64, x, 1);
            for (int r = 0; r < 3; r++) Assert.True(Math.Abs(y[r] - dense[r]) <= 0.02 * scale[r], $"{name} row {r}: {y[r]} vs {dense[r]}");
        }
        var missing = Assert.Throws<KeyNotFoundException>(() => CpuLinears.Open(pack.Pack, "nowhere", 1));
        Assert.Contains("'nowhere'", missing.Message);
        Assert.Throws<InvalidDataException>(() => CpuLinears.Open(pack.Pack, "norm", 1));
        Assert.Throws<KeyNotFoundException>(() => CpuLinears.Open(pack.Pack, "tokenizer.json", 1));
        Assert.Throws<InvalidDataException>(() => HalfCpuLinear.FromLinear(pack.Pack, "uniform4", 1));
    }
}

public sealed class HalfConversionTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(77)]
    public unsafe void Span_conversion_dot_and_multiply_add_follow_the_scalar_definition(int length)
    {
        var random = new Random(length);
        var h = Enumerable.Range(0, length).Select(_ => (Half)(random.NextDouble() * 8 - 4)).ToArray();
        var x = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var converted = new float[length];
        HalfConversion.ToSingle(h, converted);
        Assert.Equal(h.Select(v => (float)v).ToArray(), converted);

        double expectedDot = 0, scale = 0;
        for (int i = 0; i < length; i++) { expectedDot += (double)x[i] * (float)h[i]; scale += Math.Abs((double)x[i] * (float)h[i]); }
        var y = (float[])x.Clone();
        fixed (float* px = x, py = y)
        fixed (Half* ph = h)
        {
            Assert.InRange(HalfConversion.Dot(px, ph, length), expectedDot - 1e-6 * scale - 1e-7, expectedDot + 1e-6 * scale + 1e-7);
            HalfConversion.MultiplyAdd(ph, 0.5f, py, length);
        }
        for (int i = 0; i < length; i++) Assert.Equal(MathF.FusedMultiplyAdd((float)h[i], 0.5f, x[i]), y[i], 1e-6f);
    }

    [Fact]
    public unsafe void RegisterConversionIsExactForEveryHalf()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;   // the conversion is the AVX2 path's; other machines never run it
        var bits = new ushort[8];
        var converted = new float[8];
        for (int start = 0; start < 65536; start += 8)
        {
            for (int i = 0; i < 8; i++) bits[i] = (ushort)(start + i);
            fixed (ushort* h = bits) HalfConversion.ToSingle8(h).CopyTo(converted);
            for (int i = 0; i < 8; i++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf(bits[i]);
                if (float.IsNaN(expected)) Assert.True(float.IsNaN(converted[i]), $"0x{bits[i]:X4}");
                else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(converted[i]), $"0x{bits[i]:X4}: {converted[i]} vs {expected}");
            }
        }
    }

    [Fact]
    public void OneHotProductsReturnEachWeightExactly()
    {
        // Subnormals, zeros of both signs, the largest half and ordinary values: a one-hot input must give the weight back bit for bit.
        const int rows = 5, cols = 24;
        var special = new[] { 0f, -0f, 6e-8f, -3e-6f, 65504f, -65504f, 1f, -0.333f, 6.1e-5f };
        var random = new Random(11);
        var weights = Enumerable.Range(0, rows * cols).Select(i => i < special.Length ? special[i] : (float)(random.NextDouble() * 20 - 10)).ToArray();
        using var pack = CpuTestPack.Write(new Dictionary<string, LinearPayload> { ["lin"] = F16Layout.Encode(weights, rows, cols).Payload });
        using var linear = HalfCpuLinear.FromLinear(pack.Pack, "lin", 1);
        var x = new float[cols];
        var y = new float[rows];
        for (int c = 0; c < cols; c++)
        {
            Array.Clear(x);
            x[c] = 1;
            linear.MultiplyAll(x, 1, y);
            for (int r = 0; r < rows; r++) Assert.Equal(pack.Dense["lin"][r * cols + c], y[r]);
        }
    }
}
