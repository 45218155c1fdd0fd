using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Tests.Reference;

/// <summary>Each fast element-wise op against its naive definition in <see cref="ReferenceOps"/>.</summary>
public sealed class FastOpsTests
{
    public static TheoryData<int> Lengths => new() { 1, 3, 8, 15, 16, 17, 64, 100, 256, 257, 1408 };

    [Theory, MemberData(nameof(Lengths))]
    public void RmsNorm_matches_naive(int length)
    {
        var x = Scaled(GemmTests.Random(length, seed: length), 3f);
        var weight = GemmTests.Random(length, seed: length + 1);
        var (expected, actual) = (new float[length], new float[length]);
        ReferenceOps.RmsNorm(x, weight, 1e-5f, expected);
        FastOps.RmsNorm(x, weight, 1e-5f, actual);
        AssertClose(expected, actual, 1e-5f);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Softmax_matches_naive_and_survives_large_logits(int length)
    {
        var x = Scaled(GemmTests.Random(length, seed: length), 200f); // exp(200) overflows FP32 without the max shift
        var (expected, actual) = (x.ToArray(), x.ToArray());
        ReferenceOps.Softmax(expected);
        FastOps.Softmax(actual);
        AssertClose(expected, actual, 1e-6f);
        Assert.Equal(1.0, actual.Sum(v => (double)v), 1e-5);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SwiGlu_matches_naive_silu_times_up(int length)
    {
        var gate = Scaled(GemmTests.Random(length, seed: length), 8f);
        var up = GemmTests.Random(length, seed: length + 1);
        var expected = gate.Select((g, i) => ReferenceOps.SiLU(g) * up[i]).ToArray();
        FastOps.SwiGlu(gate, up);
        AssertClose(expected, gate, 1e-6f);
    }

    [Theory, InlineData(2, 0), InlineData(8, 1), InlineData(64, 5), InlineData(64, 1023), InlineData(128, 2047), InlineData(6, 77)]
    public void Rotary_table_matches_naive_rope(int headDim, int position)
    {
        var head = GemmTests.Random(headDim, seed: position);
        var (expected, actual) = (head.ToArray(), head.ToArray());
        ReferenceOps.Rope(expected, position, 10000.0);
        new RotaryEmbedding(headDim, 2048, 10000f).Apply(actual, position);
        // The table rounds angles to FP32 as transformers does: up to ~1e-4 rad at position 2047.
        AssertClose(expected, actual, 3e-4f);
    }

    [Fact]
    public void Naive_rope_rotates_pairs_i_and_i_plus_half()
    {
        // headDim 4: pair (0, 2) turns by position·1, pair (1, 3) by position·theta^(−1/2).
        float[] head = [1, 0, 0, 1];
        ReferenceOps.Rope(head, 1, 100.0);
        Assert.Equal(Math.Cos(1), head[0], 1e-6);
        Assert.Equal(Math.Sin(1), head[2], 1e-6);
        Assert.Equal(-Math.Sin(0.1), head[1], 1e-6);
        Assert.Equal(Math.Cos(0.1), head[3], 1e-6);
    }

    private static float[] Scaled(float[] x, float scale) => x.Select(v => v * scale).ToArray();

    private static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"element {i}: {actual[i]} vs {expected[i]}");
    }
}
