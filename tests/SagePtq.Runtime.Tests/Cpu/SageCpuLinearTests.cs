using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed class SageCpuLinearTests(SageTestPack fixture) : IClassFixture<SageTestPack>
{
    public static TheoryData<string, string> PathsAndCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var path in SignDotPaths.All.Where(SignDotPaths.IsSupported))
            foreach (var c in SageTestPack.Cases) data.Add(path.ToString(), c.Name);
        return data;
    }

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in SageTestPack.Cases) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(PathsAndCases))]
    public void MatchesTheQuantizedInputOracle(string pathName, string caseName)
    {
        // The oracle computes y from the encoding (signs in plain order, not planes) in double, with the
        // input quantized by the reference quantizer: what the kernel must compute up to float rounding.
        var e = fixture.Encodings[caseName];
        using var linear = SageCpuLinear.Create(fixture.Pack, caseName, 3, Enum.Parse<SignDotPath>(pathName));
        var x = Inputs(e.Cols, 3, seed: e.Rows * 7 + e.Cols);
        var y = new float[3 * e.Rows];
        linear.MultiplyAll(x, 3, y);
        for (int t = 0; t < 3; t++)
        {
            var (expected, magnitude) = QuantizedOracle(e, x.AsSpan(t * e.Cols, e.Cols));
            for (int i = 0; i < e.Rows; i++)
                Assert.True(Math.Abs(y[t * e.Rows + i] - expected[i]) <= 1e-5 * magnitude[i] + 1e-7,
                    $"token {t} row {i}: {y[t * e.Rows + i]} vs {expected[i]} (magnitude {magnitude[i]})");
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndCases))]
    public void MatchesTheDenseProductWithinTheActivationQuantizationBound(string pathName, string caseName)
    {
        var e = fixture.Encodings[caseName];
        var w = new float[e.Rows * e.Cols];
        SageLayout.Decode(e, w);
        using var linear = SageCpuLinear.Create(fixture.Pack, caseName, 2, Enum.Parse<SignDotPath>(pathName));
        var x = Inputs(e.Cols, 2, seed: e.Rows + e.Cols);
        var y = new float[2 * e.Rows];
        linear.MultiplyAll(x, 2, y);
        for (int t = 0; t < 2; t++)
        {
            var xt = x.AsSpan(t * e.Cols, e.Cols);
            var (v, rowScale) = BinaryInput(e, xt);
            var d = BlockScales(v);
            for (int i = 0; i < e.Rows; i++)
            {
                double exact = 0, absolute = 0, wNorm = 0, xNorm = 0;
                for (int j = 0; j < e.Cols; j++)
                {
                    exact += (double)w[i * e.Cols + j] * xt[j];
                    absolute += Math.Abs((double)w[i * e.Cols + j] * xt[j]);
                    wNorm += (double)w[i * e.Cols + j] * w[i * e.Cols + j];
                    xNorm += (double)xt[j] * xt[j];
                }
                // Only the binary input v is quantized, and round(v/d)·d is off by at most d/2 per element, so
                // |error| ≤ |a_i|·Σ_b n_b·d_b/2 (n_b the block's length). Float rounding (the rotation included)
                // adds a relative 1e-4 of Σ|w·x| + ‖w‖·‖x‖.
                double bound = 0;
                for (int b = 0; b < d.Length; b++) bound += Math.Min(256, e.Cols - 256 * b) * d[b] / 2;
                bound = Math.Abs(rowScale[i]) * bound + 1e-4 * (absolute + Math.Sqrt(wNorm * xNorm)) + 1e-7;
                Assert.True(Math.Abs(y[t * e.Rows + i] - exact) <= bound, $"token {t} row {i}: {y[t * e.Rows + i]} vs {exact}, bound {bound}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndCases))]
    public void ABatchEqualsOneTokenAtATimeAndRowRangesEqualTheWhole(string pathName, string caseName)
    {
        var e = fixture.Encodings[caseName];
        using var linear = SageCpuLinear.Create(fixture.Pack, caseName, 5, Enum.Parse<SignDotPath>(pathName));
        var x = Inputs(e.Cols, 5, seed: 3);
        var batch = new float[5 * e.Rows];
        linear.MultiplyAll(x, 5, batch);
        var single = new float[e.Rows];
        for (int t = 0; t < 5; t++)
        {
            linear.MultiplyAll(x.AsSpan(t * e.Cols, e.Cols), 1, single);
            Assert.Equal(single, batch.AsSpan(t * e.Rows, e.Rows).ToArray());
        }
        // Row ranges as the worker pool hands them out (multiples of the row tile, the last one short).
        linear.Prepare(x, 5);
        var pieces = new float[5 * e.Rows];
        for (int start = 0; start < e.Rows; start += 2 * linear.RowGranularity)
            linear.Multiply(pieces, start, Math.Min(e.Rows, start + 2 * linear.RowGranularity));
        Assert.Equal(batch, pieces);

        // The same ranges on several threads at once (Multiply shares only read-only state).
        var parallel = new float[5 * e.Rows];
        int tiles = (e.Rows + linear.RowGranularity - 1) / linear.RowGranularity;
        Parallel.For(0, tiles, tile =>
            linear.Multiply(parallel, tile * linear.RowGranularity, Math.Min(e.Rows, (tile + 1) * linear.RowGranularity)));
        Assert.Equal(batch, parallel);
    }

    public static TheoryData<string> TiledCaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in SageTestPack.Cases.Where(c => c.Tiled && c.Rows >= SignPlanes.TileRows)) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(TiledCaseNames))]
    public void PromptBatchesAndRangesThatCutATileAgreeWithTheTableKernel(string caseName)
    {
        // A batch above the kept-table limit (8 tokens) builds its tables inside Multiply, eight tokens' and then two; a row
        // range that cuts a tile untiles it and runs the plane kernel; one token over whole tiles uses the tables
        // Prepare kept (all on AVX2). The block sums are exact every way, so the results differ only by the order
        // of the float accumulation.
        var e = fixture.Encodings[caseName];
        const int tokens = 10;
        using var linear = SageCpuLinear.Create(fixture.Pack, caseName, tokens);
        var x = Inputs(e.Cols, tokens, seed: 11);
        var batch = new float[tokens * e.Rows];
        linear.MultiplyAll(x, tokens, batch);
        var single = new float[e.Rows];
        var cut = new float[e.Rows];
        for (int t = 0; t < tokens; t++)
        {
            var xt = x.AsSpan(t * e.Cols, e.Cols);
            linear.MultiplyAll(xt, 1, single);
            linear.Prepare(xt, 1);
            linear.Multiply(cut, 0, 5);
            linear.Multiply(cut, 5, e.Rows - 3);
            linear.Multiply(cut, e.Rows - 3, e.Rows);
            float scale = single.Max(Math.Abs) + 1e-6f;
            for (int i = 0; i < e.Rows; i++)
            {
                Assert.True(Math.Abs(batch[t * e.Rows + i] - single[i]) <= 1e-5f * scale, $"token {t} row {i}: batch {batch[t * e.Rows + i]}, alone {single[i]}");
                Assert.True(Math.Abs(cut[i] - single[i]) <= 1e-5f * scale, $"token {t} row {i}: cut ranges {cut[i]}, whole {single[i]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void DecodeRowEqualsSageLayoutDecode(string caseName)
    {
        var e = fixture.Encodings[caseName];
        var w = new float[e.Rows * e.Cols];
        SageLayout.Decode(e, w);
        using var linear = SageCpuLinear.Create(fixture.Pack, caseName, 1);
        Assert.Equal(fixture.Pack.Manifest.FindLinear(caseName)!.Sections.Sum(s => s.Length), linear.WeightBytes);
        Assert.Equal((e.Rows, e.Cols), (linear.Rows, linear.Cols));
        var row = new float[e.Cols];
        for (int i = 0; i < e.Rows; i++)
        {
            linear.DecodeRow(i, row);
            Assert.Equal(w.AsSpan(i * e.Cols, e.Cols).ToArray(), row);
        }
    }

    [Fact]
    public void TheTiledCasesAreStoredRowTiledAndTheOthersRowAfterRow()
    {
        // What makes the kernel tests above cover both stored orders.
        Assert.Contains(SageTestPack.Cases, c => c.Tiled && c.Rows >= SignPlanes.TileRows);
        foreach (var c in SageTestPack.Cases)
        {
            var e = fixture.Encodings[c.Name];
            Assert.Equal(c.Tiled, (fixture.Pack.Manifest.FindLinear(c.Name)!.Parameters["flags"] & (int)SageFlags.TiledSigns) != 0);
            var planes = new byte[e.Signs.Length];
            SignPlanes.FromLinear(e.Signs, planes, e.Cols);
            var expected = planes;
            if (c.Tiled)
            {
                expected = new byte[planes.Length];
                SignPlanes.Tile(planes, expected, e.Rows, e.Cols);
            }
            Assert.Equal(expected, fixture.Pack.GetTensorBytes(PackFormat.SectionTensorName(c.Name, "signs")).ToArray());
        }
    }

    [Fact]
    public void AnUnknownFlagIsInvalidData()
    {
        var good = SageLayout.Encode(SageTestPack.Build(SageTestPack.Cases[2], seed: 1));
        using var temp = SagePtq.Tests.TestAssets.NewTempDir();
        using (var writer = PackWriter.Create(temp.Path, Packing.TestPacks.Config, Packing.TestPacks.Tokenizer, "sage-kernel-test"))
        {
            var parameters = new Dictionary<string, int>(good.Parameters) { ["flags"] = good.Parameter("flags") | 32 };
            writer.AddLinear("flag.32", good with { Parameters = parameters }, new LinearStats(1, 0, 0, 4, 1));
            writer.Commit();
        }
        using var pack = PackedModel.Open(temp.Path);
        Assert.Contains("unknown flags", Assert.Throws<InvalidDataException>(() => SageCpuLinear.Create(pack, "flag.32", 1)).Message);
    }

    [Fact]
    public void RotatedRowsTimesInputEqualStoredRowsTimesRotatedInput()
    {
        // w = Inverse(w') ⇒ w·x = w'·Forward(x): the identity Prepare relies on.
        var random = new Random(11);
        foreach (int cols in new[] { 100, 256, 704 })
        {
            var signs = RandomizedHadamard.Signs(cols, 0x1234_5678_9abcUL);
            var stored = Enumerable.Range(0, cols).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var x = Enumerable.Range(0, cols).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var w = stored.ToArray();
            RandomizedHadamard.Inverse(w, signs);
            var rotated = x.ToArray();
            RandomizedHadamard.Forward(rotated, signs);
            double left = 0, right = 0, scale = 0;
            for (int j = 0; j < cols; j++)
            {
                left += (double)w[j] * x[j];
                right += (double)stored[j] * rotated[j];
                scale += Math.Abs((double)stored[j] * rotated[j]);
            }
            Assert.True(Math.Abs(left - right) <= 1e-5 * scale, $"cols {cols}: {left} vs {right}");
        }
    }

    [Theory]
    [MemberData(nameof(UnsupportedNames))]
    public void OtherSageStructuresAreNotSupported(string name)
    {
        var error = Assert.Throws<NotSupportedException>(() => SageCpuLinear.Create(fixture.Pack, name, 1));
        Assert.Contains(name, error.Message);
        Assert.False(SageCpuLinear.Supports(fixture.Pack.Manifest.FindLinear(name)!.Parameters));
        Assert.True(SageCpuLinear.Supports(fixture.Pack.Manifest.FindLinear(SageTestPack.Cases[0].Name)!.Parameters));
    }

    public static TheoryData<string> UnsupportedNames() => new(SageTestPack.UnsupportedNames);

    [Fact]
    public void MisuseIsRefused()
    {
        Assert.Throws<KeyNotFoundException>(() => SageCpuLinear.Create(fixture.Pack, "no.such.linear", 1));
        Assert.Throws<ArgumentException>(() => SageCpuLinear.Create(fixture.Pack, SageTestPack.F16Name, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SageCpuLinear.Create(fixture.Pack, SageTestPack.Cases[0].Name, 0));
        foreach (var missing in SignDotPaths.All.Where(p => !SignDotPaths.IsSupported(p)))
            Assert.Throws<ArgumentException>(() => SageCpuLinear.Create(fixture.Pack, SageTestPack.Cases[0].Name, 1, missing));

        var c = SageTestPack.Cases[2];
        using var linear = SageCpuLinear.Create(fixture.Pack, c.Name, 2);
        var y = new float[2 * c.Rows];
        Assert.Throws<InvalidOperationException>(() => linear.Multiply(y, 0, c.Rows));
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Prepare(new float[3 * c.Cols], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Prepare(new float[c.Cols], 0));
        Assert.Throws<ArgumentException>(() => linear.Prepare(new float[2 * c.Cols - 1], 2));
        linear.Prepare(new float[2 * c.Cols], 2);
        Assert.Throws<ArgumentException>(() => linear.Multiply(new float[2 * c.Rows - 1], 0, c.Rows));
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.Multiply(y, 0, c.Rows + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => linear.DecodeRow(c.Rows, new float[c.Cols]));
        Assert.Throws<ArgumentException>(() => linear.DecodeRow(0, new float[c.Cols - 1]));
        linear.Dispose();
        Assert.Throws<ObjectDisposedException>(() => linear.Prepare(new float[c.Cols], 1));
    }

    [Fact]
    public void MalformedSectionsAreInvalidData()
    {
        var e = SageTestPack.Build(SageTestPack.Cases[2], seed: 1);
        var good = SageLayout.Encode(e);
        using var temp = SagePtq.Tests.TestAssets.NewTempDir();
        string dir = temp.Path;
        {
            using (var writer = PackWriter.Create(dir, Packing.TestPacks.Config, Packing.TestPacks.Tokenizer, "sage-kernel-test"))
            {
                var shortSigns = good.Sections.Select(s => s.Name == "signs" ? new PayloadSection("signs", s.Bytes[..^1]) : s).ToList();
                writer.AddLinear("short.signs", new LinearPayload(good.Layout, good.Rows, good.Cols, good.Parameters, shortSigns), new LinearStats(1, 0, 0, 4, 1));
                var noCodes = good.Sections.Where(s => s.Name != "salient_codes").ToList();
                writer.AddLinear("no.codes", new LinearPayload(good.Layout, good.Rows, good.Cols, good.Parameters, noCodes), new LinearStats(1, 0, 0, 4, 1));
                writer.Commit();
            }
            using var pack = PackedModel.Open(dir);
            Assert.Contains("signs", Assert.Throws<InvalidDataException>(() => SageCpuLinear.Create(pack, "short.signs", 1)).Message);
            Assert.Contains("salient_codes", Assert.Throws<InvalidDataException>(() => SageCpuLinear.Create(pack, "no.codes", 1)).Message);
        }
    }

    /// <summary>Inputs with a few large channels, as LLaMA activations have.</summary>
    private static float[] Inputs(int cols, int tokens, int seed)
    {
        var random = new Random(seed);
        var x = new float[cols * tokens];
        for (int i = 0; i < x.Length; i++) x[i] = (float)((random.NextDouble() - 0.5) * (i % 37 == 5 ? 20 : 2));
        return x;
    }

    /// <summary>x' (rotated), the binary input v_j = c_g(j)·x'_j (0 at salient columns), and a_i, as the kernel defines them.</summary>
    private static (float[] V, float[] RowScale) BinaryInput(SageEncoding e, ReadOnlySpan<float> x)
    {
        var rotated = Rotated(e, x);
        var v = new float[e.Cols];
        for (int j = 0; j < e.Cols; j++)
            v[j] = e.SalientColumns.Contains((ushort)j) ? 0 : rotated[j] * (float)e.GroupScales[e.GroupCount == 1 ? 0 : e.GroupIds![j]];
        var rowScale = Enumerable.Range(0, e.Rows).Select(i => e.ScaleMode == 1 ? (float)e.RowScales![i] : 1f).ToArray();
        return (v, rowScale);
    }

    private static float[] Rotated(SageEncoding e, ReadOnlySpan<float> x)
    {
        var rotated = x.ToArray();
        if ((e.Flags & SageFlags.Rotated) != 0) RandomizedHadamard.Forward(rotated, RandomizedHadamard.Signs(e.Cols, e.RotationSeed));
        return rotated;
    }

    private static float[] BlockScales(float[] v)
    {
        int blocks = (v.Length + 255) / 256;
        var (q, d, s) = (new sbyte[v.Length], new float[blocks], new int[blocks]);
        ActivationQuantizerTests.Reference(v, 256, q, d, s);
        return d;
    }

    /// <summary>
    /// y_i = a_i·Σ_b d_b·(2·Σ_{j∈b}[bit_ij]·q_j − S_b) + t_i·Σ_r (code − 2^(b−1))·x'_{S_r} + μ_i·Σ_unsalient x', in double,
    /// and the magnitude of its terms (for the tolerance).
    /// </summary>
    private static (double[] Y, double[] Magnitude) QuantizedOracle(SageEncoding e, ReadOnlySpan<float> x)
    {
        var rotated = Rotated(e, x);
        var (v, rowScale) = BinaryInput(e, x);
        int blocks = (e.Cols + 255) / 256, stride = e.SignStride, salient = e.SalientColumns.Length, half = 1 << (e.SalientBits - 1);
        var (q, d, s) = (new sbyte[e.Cols], new float[blocks], new int[blocks]);
        ActivationQuantizerTests.Reference(v, 256, q, d, s);
        double unsalientSum = 0, unsalientAbs = 0;
        for (int j = 0; j < e.Cols; j++)
            if (!e.SalientColumns.Contains((ushort)j)) { unsalientSum += rotated[j]; unsalientAbs += Math.Abs(rotated[j]); }
        // The salient inputs, rounded to int16 on one scale as the kernel defines (docs/runtime.md): q = round(x'·range/max).
        int range = (int)Math.Min(short.MaxValue, int.MaxValue / ((long)Math.Max(1, salient) * ((1 << e.SalientBits) - 1 + (1 << (e.SalientBits - 1)))));
        float max = 0;
        for (int r = 0; r < salient; r++) max = Math.Max(max, Math.Abs(rotated[e.SalientColumns[r]]));
        float inverse = max == 0 ? 0 : range / max, salientStep = max == 0 ? 0 : max / range;
        var salientQ = new int[salient];
        for (int r = 0; r < salient; r++) salientQ[r] = Math.Clamp((int)MathF.Round(rotated[e.SalientColumns[r]] * inverse), -range, range);
        var y = new double[e.Rows];
        var magnitude = new double[e.Rows];
        for (int i = 0; i < e.Rows; i++)
        {
            double binary = 0, binaryAbs = 0;
            for (int b = 0; b < blocks; b++)
            {
                long dot = 0, absolute = 0;
                for (int j = 256 * b; j < Math.Min(e.Cols, 256 * b + 256); j++)
                {
                    if ((e.Signs[i * stride + (j >> 3)] >> (j & 7) & 1) != 0) dot += q[j];
                    absolute += Math.Abs(q[j]);
                }
                binary += (double)d[b] * (2 * dot - s[b]);
                binaryAbs += (double)d[b] * (2 * absolute + Math.Abs(s[b]));
            }
            double sal = 0, salAbs = 0;
            for (int r = 0; r < salient; r++)
            {
                int code = e.SalientCodes[i * salient + r];
                sal += (code - half) * (double)salientQ[r];
                // The kernel forms Σ code·q and 2^(b−1)·Σ q apart, so their sizes set its rounding.
                salAbs += (code + half) * Math.Abs((double)salientQ[r]);
            }
            sal *= salientStep;
            salAbs *= salientStep;
            double scale = salient > 0 ? (double)(float)e.SalientScales![i] : 0;
            double mu = e.RowOffsets is null ? 0 : (double)(float)e.RowOffsets[i];
            y[i] = rowScale[i] * binary + scale * sal + mu * unsalientSum;
            magnitude[i] = Math.Abs(rowScale[i]) * binaryAbs + Math.Abs(scale) * salAbs + Math.Abs(mu) * unsalientAbs;
        }
        return (y, magnitude);
    }
}

public sealed class SageTailSpreadTests
{
    /// <summary>Every short block length: the plane-by-plane copy puts each code where the one-code-at-a-time definition does.</summary>
    [Fact]
    public unsafe void SpreadTail_matches_the_per_code_definition_for_every_short_block()
    {
        var random = new Random(3);
        var block = new sbyte[SignDot.BlockWeights];
        var expected = new sbyte[SignDot.BlockWeights];
        for (int n = 1; n < SignDot.BlockWeights; n++)
        {
            for (int i = 0; i < block.Length; i++) block[i] = (sbyte)random.Next(-127, 128);
            // The definition: weight u of n sits at byte u mod B, bit u / B of the B = ⌈n / 8⌉ sign bytes, so its code goes to 32·(u / B) + u mod B.
            int width = (n + 7) / 8;
            Array.Clear(expected);
            for (int u = 0; u < n; u++) expected[32 * (u / width) + u % width] = block[u];
            fixed (sbyte* p = block) SageCpuLinear.SpreadTail(p, n);
            Assert.Equal(expected, block);
        }
    }
}
