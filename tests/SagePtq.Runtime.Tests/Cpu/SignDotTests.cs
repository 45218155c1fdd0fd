using SagePtq.Runtime.Cpu;
using Xunit.Abstractions;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed unsafe class SignDotTests(ITestOutputHelper output)
{
    /// <summary>The kernel paths this machine runs (the others are listed by <see cref="ReportsPathsThisMachineCannotRun"/>).</summary>
    public static TheoryData<string> SupportedPaths()
    {
        var data = new TheoryData<string>();
        foreach (var path in SignDotPaths.All.Where(SignDotPaths.IsSupported)) data.Add(path.ToString());
        return data;
    }

    [Fact]
    public void ReportsPathsThisMachineCannotRun()
    {
        var missing = SignDotPaths.All.Where(p => !SignDotPaths.IsSupported(p)).ToList();
        output.WriteLine(missing.Count == 0 ? "every kernel path runs here"
            : $"not runnable on this machine, so not tested here: {string.Join(", ", missing)}; production uses {SignDotPaths.Best}");
        Assert.True(SignDotPaths.IsSupported(SignDotPath.Scalar));
        Assert.True(SignDotPaths.IsSupported(SignDotPaths.Best));
    }

    [Theory]
    [MemberData(nameof(SupportedPaths))]
    public void EverySupportedPathPassesTheStartupSelfCheck(string pathName) =>
        Assert.True(SignDotPaths.SelfCheck(Enum.Parse<SignDotPath>(pathName)));

    [Theory]
    [MemberData(nameof(SupportedPaths))]
    public void BlockIntegerDotsAreExact(string pathName)
    {
        var path = Enum.Parse<SignDotPath>(pathName);
        const int blocks = 7;   // odd: the 512-bit path takes pairs and finishes with one block
        var random = new Random(5);
        var signs = new byte[4 * blocks * 32];
        var q = new sbyte[blocks * 256];
        random.NextBytes(signs);
        for (int i = 0; i < q.Length; i++) q[i] = (sbyte)random.Next(-127, 128);
        // Extremes: block 1 all bits set with q = 127 and block 2 with q = −127 (largest int16 partial sums).
        for (int r = 0; r < 4; r++) signs.AsSpan(r * blocks * 32 + 32, 64).Fill(0xFF);
        q.AsSpan(256, 256).Fill(127);
        q.AsSpan(512, 256).Fill(-127);

        var d = new float[blocks];
        var result = new float[4];
        fixed (byte* s = signs)
        fixed (sbyte* pq = q)
        fixed (float* pd = d, pr = result)
        {
            byte* s0 = s, s1 = s + blocks * 32, s2 = s + 2 * blocks * 32, s3 = s + 3 * blocks * 32;
            // d = the b-th unit vector makes the float result the integer sum of block b, exactly (|sum| < 2^24).
            for (int b = 0; b < blocks; b++)
            {
                Array.Clear(d);
                d[b] = 1;
                SignDot.Dot4(path, s0, s1, s2, s3, pq, pd, blocks, pr);
                for (int r = 0; r < 4; r++)
                    Assert.Equal(SignDot.BlockDotReference(s + r * blocks * 32 + b * 32, pq + b * 256), result[r]);
            }
            Assert.Equal(256 * 127, SignDot.BlockDotReference(s0 + 32, pq + 256));
        }
    }

    [Theory]
    [MemberData(nameof(SupportedPaths))]
    public void ScaledSumsMatchTheReference(string pathName)
    {
        var path = Enum.Parse<SignDotPath>(pathName);
        foreach (int blocks in new[] { 0, 1, 2, 3, 16 })
        {
            var random = new Random(blocks);
            var signs = new byte[4 * Math.Max(1, blocks) * 32];
            var q = new sbyte[Math.Max(1, blocks) * 256];
            var d = new float[Math.Max(1, blocks)];
            random.NextBytes(signs);
            for (int i = 0; i < q.Length; i++) q[i] = (sbyte)random.Next(-127, 128);
            for (int b = 0; b < d.Length; b++) d[b] = (float)random.NextDouble() * 0.01f;
            var result = new float[4];
            var expected = new float[4];
            fixed (byte* s = signs)
            fixed (sbyte* pq = q)
            fixed (float* pd = d, pr = result, pe = expected)
            {
                int stride = Math.Max(1, blocks) * 32;
                SignDot.Dot4(path, s, s + stride, s + 2 * stride, s + 3 * stride, pq, pd, blocks, pr);
                SignDot.Dot4Reference(s, s + stride, s + 2 * stride, s + 3 * stride, pq, pd, blocks, pe);
            }
            // Only the order of the float additions differs: a few ulps of Σ_b d_b·|I_b| ≤ Σ_b d_b·256·127.
            double magnitude = d.Take(blocks).Sum(v => v * 256.0 * 127);
            for (int r = 0; r < 4; r++) Assert.True(Math.Abs(result[r] - expected[r]) <= 1e-6 * magnitude, $"blocks {blocks} row {r}: {result[r]} vs {expected[r]}");
        }
    }
}
