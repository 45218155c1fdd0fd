using SagePtq.Runtime.Cpu;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed class ActivationQuantizerTests
{
    /// <summary>The oracle: the format's definition, one value at a time (d = max/127, q = round-to-even(x · (1/d)), Σq).</summary>
    internal static void Reference(ReadOnlySpan<float> x, int blockSize, Span<sbyte> q, Span<float> scales, Span<int> sums)
    {
        int blocks = (x.Length + blockSize - 1) / blockSize;
        for (int b = 0; b < blocks; b++)
        {
            int start = b * blockSize, length = Math.Min(blockSize, x.Length - start);
            float max = 0;
            for (int i = 0; i < length; i++) max = Math.Max(max, Math.Abs(x[start + i]));
            float d = max / 127f;
            float inverse = d == 0 ? 0 : 1f / d;
            int sum = 0;
            for (int i = 0; i < length; i++)
            {
                int code = (int)MathF.Round(x[start + i] * inverse);
                q[start + i] = (sbyte)code;
                sum += code;
            }
            scales[b] = d;
            sums[b] = sum;
        }
    }

    public static TheoryData<string, int, int> Shapes()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var path in Enum.GetValues<ActivationQuantizer.Path>().Where(ActivationQuantizer.IsSupported))
            foreach (var (length, block) in new[] { (1, 32), (31, 32), (32, 32), (100, 32), (1408, 32), (100, 256), (256, 256), (704, 256), (1408, 256), (300, 256), (45, 7) })
                data.Add(path.ToString(), length, block);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryPathEqualsTheReferenceExactly(string pathName, int length, int blockSize)
    {
        var path = Enum.Parse<ActivationQuantizer.Path>(pathName);
        var random = new Random(length * 31 + blockSize);
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)((random.NextDouble() - 0.5) * (i % 17 == 0 ? 40 : 2));
        if (length > 64) Array.Clear(x, 0, Math.Min(blockSize, length));   // an all-zero first block: d = 0, q = 0
        AssertSame(x, blockSize, path);
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector128")]
    [InlineData("Vector256")]
    public void TiesRoundToEven(string pathName)
    {
        var path = Enum.Parse<ActivationQuantizer.Path>(pathName);
        if (!ActivationQuantizer.IsSupported(path)) return;   // listed by SignDotTests.ReportsPathsThisMachineCannotRun
        // max = 127 gives d = 1 and inverse = 1 exactly, so k + 0.5 are exact ties: to-even rounding gives
        // 0, 2, 2, 4, −0, −2 ... where away-from-zero would give 1, 2, 3, ...
        var x = new float[64];
        x[0] = 127;
        for (int i = 1; i < x.Length; i++) x[i] = (i % 2 == 0 ? 1 : -1) * (i % 9 + 0.5f);
        var (q, _, _) = AssertSame(x, 64, path);
        Assert.Equal(2, q[2]);     // 2.5 → 2
        Assert.Equal(-4, q[3]);    // −3.5 → −4
        Assert.Equal(4, q[4]);     // 4.5 → 4
        Assert.Equal(0, q[9]);     // −0.5 → 0
    }

    [Fact]
    public void BuffersTooSmallAreRefused()
    {
        var x = new float[100];
        Assert.Throws<ArgumentException>(() => ActivationQuantizer.Quantize(x, 32, new sbyte[99], new float[4], new int[4]));
        Assert.Throws<ArgumentException>(() => ActivationQuantizer.Quantize(x, 32, new sbyte[100], new float[3], new int[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ActivationQuantizer.Quantize(x, 0, new sbyte[100], new float[4], new int[4]));
    }

    private static (sbyte[], float[], int[]) AssertSame(float[] x, int blockSize, ActivationQuantizer.Path path)
    {
        int blocks = ActivationQuantizer.BlockCount(x.Length, blockSize);
        var (q, d, s) = (new sbyte[x.Length], new float[blocks], new int[blocks]);
        var (rq, rd, rs) = (new sbyte[x.Length], new float[blocks], new int[blocks]);
        ActivationQuantizer.Quantize(x, blockSize, q, d, s, path);
        Reference(x, blockSize, rq, rd, rs);
        Assert.Equal(rq, q);
        Assert.Equal(rd, d);
        Assert.Equal(rs, s);
        return (q, d, s);
    }
}
