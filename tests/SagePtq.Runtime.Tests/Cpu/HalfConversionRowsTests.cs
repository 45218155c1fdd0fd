using System.Runtime.Intrinsics;
using SagePtq.Runtime.Cpu;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Runtime.Tests.Cpu;

/// <summary>The attention kernels over many cached rows give the bits of the one-row kernels they replace.</summary>
public sealed class HalfConversionRowsTests
{
    public static TheoryData<int, int> Shapes => new()
    {
        { 64, 1 }, { 64, 4 }, { 64, 7 }, { 64, 129 }, { 128, 9 }, { 72, 5 }, { 5, 6 }, { 8, 3 }, { 136, 13 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public unsafe void DotRows_gives_the_bits_of_Dot_row_by_row(int length, int count)
    {
        var (x, rows, _) = Inputs(length, count);
        var expected = new float[count];
        var actual = new float[count];
        var finite = new float[count];
        fixed (float* px = x, pe = expected, pa = actual, pf = finite)
        fixed (Half* ph = rows)
        {
            for (int i = 0; i < count; i++) pe[i] = HalfConversion.Dot(px, ph + i * length, length);
            HalfConversion.DotRows(px, ph, length, count, pa);
            HalfConversion.DotRows(px, ph, length, count, pf, allFinite: true);
        }
        AssertSameBits(expected, actual);
        AssertSameBits(expected, finite);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public unsafe void WeightedRows_gives_the_bits_of_clearing_and_MultiplyAdd_per_row(int length, int count)
    {
        var (_, rows, weights) = Inputs(length, count);
        var expected = new float[length];
        var actual = Enumerable.Repeat(float.NaN, length).ToArray();   // every output must be written, none read
        var finite = Enumerable.Repeat(float.NaN, length).ToArray();
        fixed (float* pw = weights, pe = expected, pa = actual, pf = finite)
        fixed (Half* ph = rows)
        {
            for (int i = 0; i < count; i++) HalfConversion.MultiplyAdd(ph + i * length, pw[i], pe, length);
            HalfConversion.WeightedRows(ph, pw, count, length, pa);
            HalfConversion.WeightedRows(ph, pw, count, length, pf, allFinite: true);
        }
        AssertSameBits(expected, actual);
        AssertSameBits(expected, finite);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(128)]   // the weighted sum's 128-wide AVX-512 path, where the machine has it
    public unsafe void Special_halves_pass_through_both_kernels_as_the_one_row_kernels_give_them(int length)
    {
        // Zeros of both signs, subnormals, the largest finite half and infinities among ordinary values.
        const int count = 4;
        var (x, rows, weights) = Inputs(length, count);
        Half[] special = [(Half)0f, (Half)(-0f), BitConverter.UInt16BitsToHalf(1), BitConverter.UInt16BitsToHalf(0x83FF), Half.MaxValue, Half.MinValue];
        for (int k = 0; k < special.Length; k++) rows[k * 7] = special[k];
        rows[100] = Half.PositiveInfinity;
        var expectedDots = new float[count];
        var dots = new float[count];
        var expectedSum = new float[length];
        var sum = new float[length];
        fixed (float* px = x, pw = weights, ped = expectedDots, pd = dots, pes = expectedSum, ps = sum)
        fixed (Half* ph = rows)
        {
            for (int i = 0; i < count; i++) ped[i] = HalfConversion.Dot(px, ph + i * length, length);
            HalfConversion.DotRows(px, ph, length, count, pd);
            for (int i = 0; i < count; i++) HalfConversion.MultiplyAdd(ph + i * length, pw[i], pes, length);
            HalfConversion.WeightedRows(ph, pw, count, length, ps);
        }
        AssertSameBits(expectedDots, dots);
        AssertSameBits(expectedSum, sum);
        Assert.Contains(float.PositiveInfinity, sum.Select(Math.Abs));
    }

    private static (float[] X, Half[] Rows, float[] Weights) Inputs(int length, int count)
    {
        var random = new Random(length * 1000 + count);
        var x = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var rows = Enumerable.Range(0, length * count).Select(_ => (Half)(random.NextDouble() * 6 - 3)).ToArray();
        var weights = Enumerable.Range(0, count).Select(_ => (float)random.NextDouble()).ToArray();
        return (x, rows, weights);
    }

    private static void AssertSameBits(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(actual[i]), $"entry {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public unsafe void The_finite_conversion_is_exact_for_every_finite_half()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;   // an AVX2 kernel; other machines never run it
        var bits = new ushort[8];
        var converted = new float[8];
        for (int start = 0; start < 65536; start += 8)
        {
            for (int i = 0; i < 8; i++) bits[i] = (ushort)(start + i);
            fixed (ushort* h = bits) HalfConversion.ToSingle8Finite(h).CopyTo(converted);
            for (int i = 0; i < 8; i++)
            {
                var half = BitConverter.UInt16BitsToHalf(bits[i]);
                if (!Half.IsFinite(half)) continue;
                Assert.True(BitConverter.SingleToUInt32Bits((float)half) == BitConverter.SingleToUInt32Bits(converted[i]), $"0x{bits[i]:X4}: {converted[i]} vs {(float)half}");
            }
        }
    }

    [Avx512Fact]
    public unsafe void The_sixteen_wide_conversions_are_exact_for_every_half()
    {
        var bits = new ushort[16];
        var converted = new float[16];
        var finite = new float[16];
        for (int start = 0; start < 65536; start += 16)
        {
            for (int i = 0; i < 16; i++) bits[i] = (ushort)(start + i);
            fixed (ushort* h = bits)
            {
                HalfConversion.ToSingle16(h).CopyTo(converted);
                HalfConversion.ToSingle16Finite(h).CopyTo(finite);
            }
            for (int i = 0; i < 16; i++)
            {
                var half = BitConverter.UInt16BitsToHalf(bits[i]);
                uint expected = BitConverter.SingleToUInt32Bits((float)half);
                if (Half.IsNaN(half)) Assert.True(float.IsNaN(converted[i]), $"0x{bits[i]:X4}");
                else Assert.True(expected == BitConverter.SingleToUInt32Bits(converted[i]), $"0x{bits[i]:X4}: {converted[i]} vs {(float)half}");
                if (Half.IsFinite(half))
                    Assert.True(expected == BitConverter.SingleToUInt32Bits(finite[i]), $"finite 0x{bits[i]:X4}: {finite[i]} vs {(float)half}");
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(40)]
    public void AnySpecial_finds_an_infinity_or_a_NaN_anywhere_and_nothing_in_finite_values(int at)
    {
        var values = Enumerable.Range(0, 41).Select(i => (Half)(i * 1.5f - 30)).ToArray();
        values[3] = Half.MaxValue;
        values[5] = Half.MinValue;
        values[7] = BitConverter.UInt16BitsToHalf(0x8001);   // the smallest negative subnormal
        if (at == 3 || at == 5 || at == 7) return;
        Assert.False(HalfConversion.AnySpecial(values));
        foreach (var special in new[] { Half.PositiveInfinity, Half.NegativeInfinity, Half.NaN, BitConverter.UInt16BitsToHalf(0x7C01) })
        {
            var copy = values.ToArray();
            copy[at] = special;
            Assert.True(HalfConversion.AnySpecial(copy), $"{special} at {at}");
        }
    }

    [Fact]
    public void The_cache_stays_all_finite_until_a_value_overflows_to_infinity()
    {
        var config = SagePtq.Runtime.Checkpoints.ModelConfig.Load(Path.Combine(TestAssets.EmbeddedModel, "config.json"));
        using var cache = new HalfKeyValueCache(config, 4);
        var keys = Enumerable.Range(0, config.KeyValueDim).Select(i => (float)Math.Sin(i) * 60000).ToArray();
        var values = Enumerable.Range(0, config.KeyValueDim).Select(i => (float)Math.Cos(i)).ToArray();
        StoreAllHeads(0, 0);
        StoreAllHeads(1, 1);
        Assert.True(cache.AllFinite);
        values[^1] = 1e6f;   // beyond the largest half: stored as +∞
        StoreAllHeads(0, 2);
        Assert.False(cache.AllFinite);
        values[^1] = 0;
        StoreAllHeads(0, 3);
        Assert.False(cache.AllFinite);   // it stays false: older positions may still hold the infinity

        void StoreAllHeads(int layer, int position)
        {
            int d = config.HeadDim;
            for (int head = 0; head < config.NumKeyValueHeads; head++)
                cache.Store(layer, head, position, keys.AsSpan(head * d, d), values.AsSpan(head * d, d));
        }
    }
}
