using System.Text;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Cuda.Tests;

/// <summary>One sage linear for the CPU check of the CUDA math: the template constants plus how to fill it.</summary>
public sealed record SageKernelCase(int Rows, int Cols, SageFlags Flags, int Groups, int SalientBits, int Salient, int ScaleMode)
{
    public string Id => $"r{Rows}_c{Cols}_f{(int)Flags}_g{Groups}_b{SalientBits}_s{Salient}_m{ScaleMode}";

    public override string ToString() => Id;
}

/// <summary>The harness library of <see cref="SageKernelTests"/>, compiled once for the class.</summary>
public sealed class SageHarness : IDisposable
{
    private readonly NativeHarness? _native;

    /// <summary>Compiles the harness once for the class (its tests are skipped when clang-14 is absent).</summary>
    public SageHarness()
    {
        if (Clang.CxxCompiler is not null) _native = new NativeHarness(Source());
    }

    internal NativeHarness Native => _native ?? throw new InvalidOperationException(Clang.Missing);

    private static string Source()
    {
        var source = new StringBuilder("#include \"sageptq.cuh\"\nusing namespace sageptq;\n");
        foreach (var c in SageKernelTests.Cases)
        {
            string t = $"{c.Rows}, {c.Cols}, {(int)c.Flags}, {c.Groups}, {c.SalientBits}, {c.Salient}, {c.ScaleMode}";
            // prepare, then every row as the sum of its 32 lane shares, and the exact per-block integer dots.
            source.Append($$"""
                extern "C" void sage_{{c.Id}}(const void* const* sections, const long long* bytes, const float* x, unsigned long long seed,
                    float* rotated, float* work, int8_t* codes, float* scales, int32_t* sums, float* totals, float* y, int32_t* dots)
                {
                    LinearArgs a = {};
                    for (int k = 0; k < SAGEPTQ_MAX_SECTIONS; k++) { a.sections[k] = sections[k]; a.section_bytes[k] = bytes[k]; }
                    sage::prepare<{{t}}>(a, x, seed, rotated, work, codes, scales, sums, totals);
                    const int blocks = ({{c.Cols}} + 255) / 256;
                    for (int r = 0; r < {{c.Rows}}; r++) {
                        float sum = 0;
                        for (int lane = 0; lane < 32; lane++) sum += sage::row_partial<{{t}}>(a, codes, scales, rotated, totals, r, lane);
                        y[r] = sum;
                        for (int b = 0; b < blocks; b++) {
                            int dot = 0;
                            for (int lane = 0; lane < 32; lane++) dot += sage::block_dot<{{t}}>(a, codes, r, b, lane);
                            dots[r * blocks + b] = dot;
                        }
                    }
                }

                """);
        }
        return source.ToString();
    }

    public void Dispose() => _native?.Dispose();
}

/// <summary>
/// sage::prepare, sage::row_partial and sage::block_dot of sageptq.cuh, compiled for the CPU and fed real
/// SageLayout payloads: the prepared activation must equal the CPU kernel's (rotation, column-scale fold,
/// ActivationQuantizer) bit for bit, the integer block dots must be exact, and each row must match the
/// double-precision sum of the same quantized terms, and the decoded weights within the int8 rounding bound.
/// </summary>
public sealed unsafe class SageKernelTests(SageHarness harness) : IClassFixture<SageHarness>
{
    public static IReadOnlyList<SageKernelCase> Cases { get; } =
    [
        new(3, 32, SageFlags.None, 1, 4, 0, 0),
        new(17, 100, SageFlags.Rotated, 4, 8, 3, 0),
        new(17, 256, SageFlags.Rotated, 3, 8, 8, 1),
        new(64, 300, SageFlags.RowOffsets | SageFlags.Rotated, 4, 4, 0, 0),
        new(9, 704, SageFlags.RowOffsets, 2, 3, 12, 1),
        new(5, 1408, SageFlags.RowOffsets | SageFlags.Rotated, 4, 8, 20, 1),
        new(7, 300, SageFlags.None, 3, 4, 6, 2),
        new(6, 520, SageFlags.GroupPerWeight | SageFlags.RowOffsets, 5, 4, 4, 1),
        new(8, 384, SageFlags.SalientPerWeight | SageFlags.RowOffsets, 3, 5, 10, 1),
        new(8, 200, SageFlags.SalientPerWeight | SageFlags.GroupPerWeight | SageFlags.RowOffsets | SageFlags.Rotated, 3, 6, 9, 2),
        // Hadamard blocks above 256 (stages past the warp shuffles), and more rows than a CTA's warps take at once.
        new(12, 512, SageFlags.RowOffsets | SageFlags.Rotated, 2, 8, 6, 0),
        new(37, 2048, SageFlags.Rotated, 4, 4, 40, 1),
    ];

    public static TheoryData<SageKernelCase> All() => new(Cases);

    [ClangTheory]
    [MemberData(nameof(All))]
    public void MatchesTheCpuMath(SageKernelCase c)
    {
        var e = Build(c, seed: StableSeed(c.Id));
        var payload = SageLayout.Encode(e);
        int rows = c.Rows, cols = c.Cols, blocks = (cols + 255) / 256;
        var x = Inputs(cols, seed: rows * 31 + cols);

        var rotated = new float[cols];
        var work = new float[cols];
        var codes = new sbyte[cols];
        var scales = new float[blocks];
        var sums = new int[blocks];
        var totals = new float[4];
        var y = new float[rows];
        var dots = new int[rows * blocks];
        var call = (delegate* unmanaged<nint*, long*, float*, ulong, float*, float*, sbyte*, float*, int*, float*, float*, int*, void>)harness.Native.Export($"sage_{c.Id}");
        using (var pinned = new PinnedSections(payload.Sections.Select(s => s.Bytes).ToList()))
        fixed (nint* sections = pinned.Pointers)
        fixed (long* lengths = pinned.Lengths)
        fixed (float* xp = x, rp = rotated, wp = work, dp = scales, tp = totals, yp = y)
        fixed (sbyte* qp = codes)
        fixed (int* sp = sums, op = dots)
            call(sections, lengths, xp, e.RotationSeed, rp, wp, qp, dp, sp, tp, yp, op);

        // 1. The prepared activation, exactly as the CPU kernel forms it.
        var expectedRotated = x.ToArray();
        if ((e.Flags & SageFlags.Rotated) != 0) RandomizedHadamard.Forward(expectedRotated, RandomizedHadamard.Signs(cols, e.RotationSeed));
        Assert.Equal(expectedRotated, rotated);
        bool folded = c.ScaleMode != 2 && (c.Flags & SageFlags.GroupPerWeight) == 0;
        bool perWeightSalient = (c.Flags & SageFlags.SalientPerWeight) != 0;
        var v = new float[cols];
        for (int j = 0; j < cols; j++)
            v[j] = folded ? expectedRotated[j] * (float)e.GroupScales[c.Groups == 1 ? 0 : e.GroupIds![j]] : expectedRotated[j];
        if (!perWeightSalient) foreach (ushort j in e.SalientColumns) v[j] = 0;
        var (q, d, s) = (new sbyte[cols], new float[blocks], new int[blocks]);
        ActivationQuantizer.Quantize(v, 256, q, d, s);
        Assert.Equal(q, codes);
        Assert.Equal(d, scales);
        Assert.Equal(s, sums);

        // 2. The integer core: Σ_{j∈b} [sign = +]·q_j per row and block, exact.
        for (int i = 0; i < rows; i++)
            for (int b = 0; b < blocks; b++)
            {
                long dot = 0;
                for (int j = 256 * b; j < Math.Min(cols, 256 * b + 256); j++)
                    if ((e.Signs[i * e.SignStride + (j >> 3)] >> (j & 7) & 1) != 0) dot += q[j];
                Assert.True(dot == dots[i * blocks + b], $"row {i} block {b}: {dots[i * blocks + b]} ≠ {dot}");
            }

        // 3. Each row against the same terms in double, against the production CPU kernel where it reads the
        //    structure, and against the decoded weights within the int8 rounding bound.
        var (oracle, magnitude, bound) = Oracle(e, expectedRotated, q, d, folded);
        if (SageCpuLinear.Supports(payload.Parameters))
        {
            using var pack = new CpuKernelPack(new Dictionary<string, LinearPayload> { ["linear"] = payload });
            using var cpu = SageCpuLinear.Create(pack.Pack, "linear", 1);
            var cpuY = new float[rows];
            cpu.MultiplyAll(x, 1, cpuY);
            // The CPU kernel rounds the salient inputs to int16 on one scale s (docs/runtime.md); the CUDA kernel keeps
            // them in FP32: each input moves by at most s/2, so a row by at most |t_i|·Σ_r |code − 2^(b−1)|·s/2.
            double step = 0;
            if (!perWeightSalient && e.SalientColumns.Length > 0)
            {
                // The int16 range: count·(2^b − 1 + 2^(b−1))·range must fit int32.
                long perInput = (long)e.SalientColumns.Length * ((1 << e.SalientBits) - 1 + (1 << (e.SalientBits - 1)));
                step = e.SalientColumns.Max(j => Math.Abs(expectedRotated[j])) / Math.Min(short.MaxValue, int.MaxValue / perInput);
            }
            for (int i = 0; i < rows; i++)
            {
                double salientRounding = 0;
                for (int r = 0; r < e.SalientColumns.Length && step > 0; r++)
                    salientRounding += Math.Abs(e.SalientCodes[i * e.SalientColumns.Length + r] - (1 << (e.SalientBits - 1)));
                salientRounding *= step / 2 * (e.SalientScales is null ? 0 : Math.Abs((double)(float)e.SalientScales[i]));
                Assert.True(Math.Abs(y[i] - cpuY[i]) <= 4e-6 * magnitude[i] + salientRounding + 1e-7,
                    $"row {i}: {y[i]} vs SageCpuLinear {cpuY[i]} (magnitude {magnitude[i]}, salient rounding {salientRounding})");
            }
        }
        var dense = new float[rows * cols];
        SageLayout.Decode(e, dense);
        for (int i = 0; i < rows; i++)
        {
            Assert.True(Math.Abs(y[i] - oracle[i]) <= 2e-6 * magnitude[i] + 1e-7, $"row {i}: {y[i]} vs oracle {oracle[i]} (magnitude {magnitude[i]})");
            double exact = 0, size = 0;
            for (int j = 0; j < cols; j++) { exact += (double)dense[i * cols + j] * x[j]; size += Math.Abs((double)dense[i * cols + j] * x[j]); }
            Assert.True(Math.Abs(y[i] - exact) <= bound[i] + 1e-5 * size + 1e-6, $"row {i}: {y[i]} vs decoded {exact} (bound {bound[i]})");
        }
    }

    /// <summary>
    /// y_i = Σ_{unsalient j} α_ij·(±1)·d_b·q_j + t_i·Σ_salient (c − 2^(b−1))·x'_j + μ_i·Σ_unsalient x'_j in double, where α_ij = a_i
    /// when the scale is folded into the activation; with Σ|terms| (tolerance) and Σ|α_ij|·d_b/2 (the int8 rounding bound).
    /// </summary>
    private static (double[] Y, double[] Magnitude, double[] Bound) Oracle(SageEncoding e, float[] rotated, sbyte[] q, float[] d, bool folded)
    {
        int rows = e.Rows, cols = e.Cols, half = 1 << (e.SalientBits - 1);
        bool perWeightSalient = (e.Flags & SageFlags.SalientPerWeight) != 0, perWeightGroups = (e.Flags & SageFlags.GroupPerWeight) != 0;
        var y = new double[rows];
        var magnitude = new double[rows];
        var bound = new double[rows];
        long cursor = 0;
        for (int i = 0; i < rows; i++)
        {
            var salient = new Dictionary<int, int>();   // column → code
            if (perWeightSalient)
                for (int r = 0; r < e.SalientRowCounts[i]; r++, cursor++) salient[e.SalientColumns[cursor]] = e.SalientCodes[cursor];
            else
                for (int r = 0; r < e.SalientColumns.Length; r++) salient[e.SalientColumns[r]] = e.SalientCodes[i * e.SalientColumns.Length + r];
            double rowScale = e.ScaleMode == 1 ? (float)e.RowScales![i] : 1.0;
            double mu = e.RowOffsets is null ? 0 : (float)e.RowOffsets[i];
            double t = e.SalientScales is null ? 0 : (float)e.SalientScales[i];
            for (int j = 0; j < cols; j++)
            {
                if (salient.TryGetValue(j, out int code))
                {
                    y[i] += t * (code - half) * rotated[j];
                    magnitude[i] += Math.Abs(t) * (code + half) * Math.Abs(rotated[j]);
                    continue;
                }
                int g = e.GroupCount == 1 ? 0 : e.GroupIds![perWeightGroups ? (long)i * cols + j : j];
                double alpha = folded ? rowScale
                    : e.ScaleMode == 2 ? (float)e.GroupScales[i * e.GroupCount + g]
                    : e.ScaleMode == 1 ? (float)e.RowScales![i] * (float)e.GroupScales[g] : (float)e.GroupScales[g];
                bool positive = (e.Signs[i * e.SignStride + (j >> 3)] >> (j & 7) & 1) != 0;
                double value = (double)d[j / 256] * q[j];
                y[i] += alpha * (positive ? value : -value) + mu * rotated[j];
                magnitude[i] += Math.Abs(alpha) * (Math.Abs(value) + d[j / 256] * 128.0) + Math.Abs(mu * rotated[j]);
                bound[i] += Math.Abs(alpha) * d[j / 256] / 2;
            }
        }
        return (y, magnitude, bound);
    }

    /// <summary>Inputs with a few large channels, as LLaMA activations have.</summary>
    /// <summary>A seed from the case's name that is the same in every run (string.GetHashCode is randomized per process).</summary>
    internal static int StableSeed(string id)
    {
        uint hash = 2166136261;
        foreach (char ch in id) hash = (hash ^ ch) * 16777619;
        return (int)(hash & 0xFFFF);
    }

    internal static float[] Inputs(int cols, int seed)
    {
        var random = new Random(seed);
        var x = new float[cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)((random.NextDouble() - 0.5) * (i % 37 == 5 ? 20 : 2));
        return x;
    }

    /// <summary>A random encoding of the case: every section filled from the seed; per-weight salient rows include empty ones.</summary>
    internal static SageEncoding Build(SageKernelCase c, int seed)
    {
        var random = new Random(seed);
        int rows = c.Rows, cols = c.Cols, k = c.Groups, stride = (cols + 7) / 8;
        Half H(double low, double high) => (Half)(low + (high - low) * random.NextDouble());
        bool perWeightSalient = (c.Flags & SageFlags.SalientPerWeight) != 0, perWeightGroups = (c.Flags & SageFlags.GroupPerWeight) != 0;

        ushort[] salient;
        ushort[] rowCounts = [];
        var isSalient = new bool[rows * cols];
        if (perWeightSalient)
        {
            // c.Salient weights spread over the rows; every third row has none.
            var perRow = new List<ushort>[rows];
            for (int i = 0; i < rows; i++) perRow[i] = [];
            for (int n = 0; n < c.Salient; n++)
            {
                int i = random.Next(rows);
                if (i % 3 == 1) i = (i + 1) % rows;
                int j;
                do j = random.Next(cols); while (perRow[i].Contains((ushort)j));
                perRow[i].Add((ushort)j);
            }
            salient = perRow.SelectMany(list => list.Order()).ToArray();
            rowCounts = perRow.Select(list => (ushort)list.Count).ToArray();
            for (int i = 0; i < rows; i++) foreach (ushort j in perRow[i]) isSalient[i * cols + j] = true;
        }
        else
        {
            salient = Enumerable.Range(0, cols).OrderBy(_ => random.Next()).Take(c.Salient).Order().Select(j => (ushort)j).ToArray();
            for (int i = 0; i < rows; i++) foreach (ushort j in salient) isSalient[i * cols + j] = true;
        }
        var signs = new byte[rows * stride];
        random.NextBytes(signs);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < stride * 8; j++)
                if (j >= cols || isSalient[i * cols + j]) signs[i * stride + (j >> 3)] &= (byte)~(1 << (j & 7));

        var table = Enumerable.Range(0, k * (c.ScaleMode == 2 ? rows : 1)).Select(_ => c.ScaleMode == 1 ? H(0.5, 1.5) : H(0.005, 0.05)).ToArray();
        var rowScales = c.ScaleMode == 1 ? Enumerable.Range(0, rows).Select(_ => H(0.005, 0.05)).ToArray() : null;
        var offsets = (c.Flags & SageFlags.RowOffsets) != 0 ? Enumerable.Range(0, rows).Select(_ => H(-0.01, 0.01)).ToArray() : null;
        var groupIds = k > 1 ? Enumerable.Range(0, perWeightGroups ? rows * cols : cols).Select(_ => (byte)random.Next(k)).ToArray() : null;
        long entries = perWeightSalient ? salient.Length : (long)rows * salient.Length;
        var codes = Enumerable.Range(0, (int)entries).Select(_ => (byte)random.Next(1 << c.SalientBits)).ToArray();
        var salientScales = salient.Length > 0 ? Enumerable.Range(0, rows).Select(_ => H(0.02, 0.1)).ToArray() : null;
        ulong rotationSeed = (c.Flags & SageFlags.Rotated) != 0 ? (ulong)random.NextInt64() : 0;
        return new SageEncoding(rows, cols, c.Flags, c.ScaleMode, k, c.SalientBits, signs, table, rowScales, offsets, groupIds,
            salient, rowCounts, codes, salientScales, rotationSeed);
    }
}
