using System.Text;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Reference;

namespace SagePtq.Cuda.Tests;

/// <summary>The harness of <see cref="OtherKernelTests"/>: uniform and f16 rows, the model-wide ops, half conversion.</summary>
public sealed class OtherHarness : IDisposable
{
    /// <summary>uniform constants (rows, cols, bits, group_size): CPU-kernel shapes and general ones.</summary>
    public static readonly int[][] UniformSets = [[9, 256, 2, 128], [5, 300, 3, 100], [7, 256, 4, 32], [4, 96, 8, 96], [6, 200, 5, 7]];

    private readonly NativeHarness? _native;

    /// <summary>Compiles the harness once for the class (its tests are skipped when clang-14 is absent).</summary>
    public OtherHarness()
    {
        if (Clang.CxxCompiler is not null) _native = new NativeHarness(Source());
    }

    internal NativeHarness Native => _native ?? throw new InvalidOperationException(Clang.Missing);

    private static string Source()
    {
        var source = new StringBuilder("""
            #include "sageptq.cuh"
            using namespace sageptq;
            static LinearArgs Args(const void* const* sections, const long long* bytes) {
                LinearArgs a = {};
                for (int k = 0; k < SAGEPTQ_MAX_SECTIONS; k++) { a.sections[k] = sections[k]; a.section_bytes[k] = bytes[k]; }
                return a;
            }
            extern "C" float half_to_float_export(unsigned short h) { return half_to_float(h); }
            extern "C" unsigned short float_to_half_export(float f) { return float_to_half(f); }
            extern "C" void f16_rows(const void* const* sections, const long long* bytes, const float* x, float* y) {
                LinearArgs a = Args(sections, bytes);
                for (int r = 0; r < 13; r++) { float s = 0; for (int l = 0; l < 32; l++) s += f16::row_partial<13, 77>(a, x, r, l); y[r] = s; }
            }
            extern "C" void f16_rows_wide(const void* const* sections, const long long* bytes, const float* x, float* y) {
                LinearArgs a = Args(sections, bytes);
                for (int r = 0; r < 13; r++) { float s = 0; for (int l = 0; l < 32; l++) s += f16::row_partial<13, 328>(a, x, r, l); y[r] = s; }
            }
            extern "C" void norm_row(const float* x, const float* w, float eps, float* h) { rms_norm_row<300>(x, w, eps, h); }
            extern "C" void swiglu_row(const float* g, const float* u, float* out, int n) { for (int i = 0; i < n; i++) out[i] = swiglu(g[i], u[i]); }
            extern "C" void rope(RopeArgs* args) { for (int e = 0; e < (4 + 2) * 16 / 2 + 2 * 16; e++) rope_and_cache_element_export(*args, e); }

            """.Replace("rope_and_cache_element_export", "rope_element<4, 2, 16>"));
        source.Append("""
            extern "C" void attention_heads(AttentionArgs* args) { for (int h = 0; h < 4; h++) attention_head<4, 2, 16>(*args, h); }

            """);
        foreach (var u in UniformSets)
        {
            string t = string.Join(", ", u), id = string.Join("_", u);
            source.Append($$"""
                extern "C" void uniform_{{id}}(const void* const* sections, const long long* bytes, const float* x, int8_t* codes, float* scales, int32_t* sums, float* y) {
                    LinearArgs a = Args(sections, bytes);
                    uniform::prepare<{{t}}>(x, codes, scales, sums);
                    for (int r = 0; r < {{u[0]}}; r++) { float s = 0; for (int l = 0; l < 32; l++) s += uniform::row_partial<{{t}}>(a, codes, scales, x, r, l); y[r] = s; }
                }

                """);
        }
        return source.ToString();
    }

    public void Dispose() => _native?.Dispose();
}

/// <summary>The uniform and f16 rows and the model-wide ops of sageptq.cuh on the CPU, against the project's oracles.</summary>
public sealed unsafe class OtherKernelTests(OtherHarness harness) : IClassFixture<OtherHarness>
{
    [ClangFact]
    public void HalfConversionMatchesDotNetBothWays()
    {
        var toFloat = (delegate* unmanaged<ushort, float>)harness.Native.Export("half_to_float_export");
        var toHalf = (delegate* unmanaged<float, ushort>)harness.Native.Export("float_to_half_export");
        for (int h = 0; h < 65536; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float actual = toFloat((ushort)h);
            Assert.True(float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"half 0x{h:X4}");
        }
        var random = new Random(5);
        for (int n = 0; n < 200_000; n++)
        {
            // Exponents from below the smallest subnormal half to past the largest half; every other value an exact tie.
            int sign = random.Next(2) << 31;
            float f = n % 2 == 0
                ? BitConverter.Int32BitsToSingle(sign | random.Next(100, 146) << 23 | random.Next(1 << 23))
                : BitConverter.Int32BitsToSingle(sign | random.Next(0x33000000 >> 13, 0x47800000 >> 13) << 13 | 0x1000);
            if (float.IsNaN(f)) continue;
            Assert.True(BitConverter.HalfToUInt16Bits((Half)f) == toHalf(f), $"float {f} (0x{BitConverter.SingleToInt32Bits(f):X8})");
        }
    }

    [ClangFact]
    public void UniformRowsMatchTheQuantizedSumAndTheDecodedWeights()
    {
        foreach (var u in OtherHarness.UniformSets)
        {
            int rows = u[0], cols = u[1], bits = u[2], groupSize = u[3], blocks = (cols + 31) / 32;
            var w = Build(rows, cols, bits, groupSize, actOrder: groupSize == 7, seed: rows * cols + bits);
            var payload = UniformLayout.Encode(w);
            var x = SageKernelTests.Inputs(cols, seed: cols);
            var (codes, scales, sums, y) = (new sbyte[cols], new float[blocks], new int[blocks], new float[rows]);
            var call = (delegate* unmanaged<nint*, long*, float*, sbyte*, float*, int*, float*, void>)harness.Native.Export($"uniform_{string.Join("_", u)}");
            using (var pinned = new PinnedSections(payload.Sections.Select(s => s.Bytes).ToList()))
            fixed (nint* sp = pinned.Pointers)
            fixed (long* lp = pinned.Lengths)
            fixed (float* xp = x, dp = scales, yp = y)
            fixed (sbyte* qp = codes)
            fixed (int* sump = sums)
                call(sp, lp, xp, qp, dp, sump, yp);

            var (q, d, s) = (new sbyte[cols], new float[blocks], new int[blocks]);
            ActivationQuantizer.Quantize(x, 32, q, d, s);
            Assert.Equal(q, codes);
            Assert.Equal(d, scales);
            Assert.Equal(s, sums);

            float[]? cpuY = null;
            using (var pack = new CpuKernelPack(new Dictionary<string, LinearPayload> { ["linear"] = payload }))
            {
                if (UniformCpuLinear.Supports(pack.Pack.Manifest.FindLinear("linear")!, out _))
                {
                    using var cpu = UniformCpuLinear.Create(pack.Pack, "linear", 1);
                    cpuY = new float[rows];
                    cpu.MultiplyAll(x, 1, cpuY);
                }
            }
            Assert.Equal(u[3] % 32 == 0 && u[1] % 32 == 0 && u[2] is 2 or 4 or 8, cpuY is not null);

            var dense = new float[rows * cols];
            w.Dequantize(dense);
            var reserved = w.ReservedIndex.Select(k => (long)k).ToHashSet();
            for (int r = 0; r < rows; r++)
            {
                double oracle = 0, magnitude = 0, bound = 0, exact = 0, size = 0;
                for (int j = 0; j < cols; j++)
                {
                    long flat = (long)r * cols + j;
                    exact += (double)dense[flat] * x[j];
                    size += Math.Abs((double)dense[flat] * x[j]);
                    if (reserved.Contains(flat)) { oracle += (double)dense[flat] * x[j]; magnitude += Math.Abs((double)dense[flat] * x[j]); continue; }
                    int slot = r * w.GroupsPerRow + w.GroupOf(j);
                    double term = (float)w.Scales[slot] * (double)(w.Codes[flat] - w.Zeros[slot]) * d[j / 32] * q[j];
                    oracle += term;
                    magnitude += Math.Abs((float)w.Scales[slot]) * (w.Codes[flat] + w.Zeros[slot]) * d[j / 32] * Math.Abs(q[j]);
                    bound += Math.Abs(dense[flat]) * d[j / 32] / 2;
                }
                Assert.True(Math.Abs(y[r] - oracle) <= 2e-6 * magnitude + 1e-7, $"{string.Join(",", u)} row {r}: {y[r]} vs {oracle}");
                if (cpuY is not null)
                    Assert.True(Math.Abs(y[r] - cpuY[r]) <= 4e-6 * magnitude + 1e-7, $"{string.Join(",", u)} row {r}: {y[r]} vs UniformCpuLinear {cpuY[r]}");
                Assert.True(Math.Abs(y[r] - exact) <= bound + 1e-5 * size + 1e-6, $"{string.Join(",", u)} row {r}: {y[r]} vs decoded {exact}");
            }
        }
    }

    /// <summary>77 columns: the one-half-per-lane path; 328 (a multiple of 8, not of 256): 16-byte chunks.</summary>
    [ClangTheory]
    [InlineData(77, "f16_rows")]
    [InlineData(328, "f16_rows_wide")]
    public void F16RowsMatchTheDecodedProduct(int cols, string entry)
    {
        const int rows = 13;
        var random = new Random(3);
        var weight = Enumerable.Range(0, rows * cols).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var (payload, dequantized) = F16Layout.Encode(weight, rows, cols);
        var x = SageKernelTests.Inputs(cols, seed: 9);
        var y = new float[rows];
        var call = (delegate* unmanaged<nint*, long*, float*, float*, void>)harness.Native.Export(entry);
        using (var pinned = new PinnedSections(payload.Sections.Select(s => s.Bytes).ToList()))
        fixed (nint* sp = pinned.Pointers)
        fixed (long* lp = pinned.Lengths)
        fixed (float* xp = x, yp = y)
            call(sp, lp, xp, yp);
        var expected = new float[rows];
        ReferenceOps.MatVec(dequantized, x, expected);
        for (int r = 0; r < rows; r++) Assert.True(Math.Abs(y[r] - expected[r]) <= 1e-5 * (1 + Math.Abs(expected[r])), $"row {r}: {y[r]} vs {expected[r]}");
    }

    [ClangFact]
    public void NormAndSwigluMatchTheReferenceOps()
    {
        var x = SageKernelTests.Inputs(300, seed: 1);
        var weight = SageKernelTests.Inputs(300, seed: 2);
        var (h, expected) = (new float[300], new float[300]);
        var norm = (delegate* unmanaged<float*, float*, float, float*, void>)harness.Native.Export("norm_row");
        fixed (float* xp = x, wp = weight, hp = h) norm(xp, wp, 1e-5f, hp);
        ReferenceOps.RmsNorm(x, weight, 1e-5f, expected);
        for (int i = 0; i < 300; i++) Assert.True(Math.Abs(h[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"norm {i}: {h[i]} vs {expected[i]}");

        var up = SageKernelTests.Inputs(300, seed: 3);
        var output = new float[300];
        var swiglu = (delegate* unmanaged<float*, float*, float*, int, void>)harness.Native.Export("swiglu_row");
        fixed (float* gp = x, upp = up, op = output) swiglu(gp, upp, op, 300);
        for (int i = 0; i < 300; i++)
        {
            float e = ReferenceOps.SiLU(x[i]) * up[i];
            Assert.True(Math.Abs(output[i] - e) <= 1e-5 * (1 + Math.Abs(e)), $"swiglu {i}: {output[i]} vs {e}");
        }
    }

    /// <summary>RoPE (tables as the CPU RotaryEmbedding builds them) against ReferenceOps.Rope, the FP16 cache, then attention over it.</summary>
    [ClangFact]
    public void RopeCacheAndAttentionMatchTheReference()
    {
        const int heads = 4, kvHeads = 2, d = 16, half = d / 2, maxPositions = 6;
        const float theta = 10000f;
        var cos = new float[maxPositions * half];
        var sin = new float[maxPositions * half];
        for (int i = 0; i < half; i++)
        {
            float inverseFrequency = 1f / MathF.Pow(theta, 2 * i / (float)d);
            for (int p = 0; p < maxPositions; p++) { cos[p * half + i] = (float)Math.Cos(p * inverseFrequency); sin[p * half + i] = (float)Math.Sin(p * inverseFrequency); }
        }
        var keyCache = new ushort[kvHeads * maxPositions * d];
        var valueCache = new ushort[kvHeads * maxPositions * d];
        var rope = (delegate* unmanaged<RopeArgs*, void>)harness.Native.Export("rope");
        var attention = (delegate* unmanaged<AttentionArgs*, void>)harness.Native.Export("attention_heads");
        var keys = new float[maxPositions][];
        var values = new float[maxPositions][];
        for (int position = 0; position < maxPositions; position++)
        {
            var q = SageKernelTests.Inputs(heads * d, seed: 10 + position);
            var k = SageKernelTests.Inputs(kvHeads * d, seed: 20 + position);
            var v = SageKernelTests.Inputs(kvHeads * d, seed: 30 + position);
            var (qExpected, kExpected) = (q.ToArray(), k.ToArray());
            for (int head = 0; head < heads; head++) ReferenceOps.Rope(qExpected.AsSpan(head * d, d), position, theta);
            for (int head = 0; head < kvHeads; head++) ReferenceOps.Rope(kExpected.AsSpan(head * d, d), position, theta);
            var output = new float[heads * d];
            var scores = new float[heads * maxPositions];
            fixed (float* qp = q, kp = k, vp = v, cp = cos, sp = sin, op = output, scp = scores)
            fixed (ushort* kc = keyCache, vc = valueCache)
            {
                var ropeArgs = new RopeArgs { Q = qp, K = kp, V = vp, Cos = cp, Sin = sp, KeyCache = kc, ValueCache = vc, Position = position, MaxPositions = maxPositions };
                rope(&ropeArgs);
                var attentionArgs = new AttentionArgs { Q = qp, KeyCache = kc, ValueCache = vc, Scores = scp, Output = op, Position = position, MaxPositions = maxPositions };
                attention(&attentionArgs);
            }
            for (int i = 0; i < q.Length; i++) Assert.True(Math.Abs(q[i] - qExpected[i]) <= 1e-5, $"q {i} at {position}: {q[i]} vs {qExpected[i]}");
            for (int i = 0; i < k.Length; i++) Assert.True(Math.Abs(k[i] - kExpected[i]) <= 1e-5, $"k {i} at {position}: {k[i]} vs {kExpected[i]}");
            for (int head = 0; head < kvHeads; head++)
                for (int i = 0; i < d; i++)
                {
                    int at = (head * maxPositions + position) * d + i;
                    Assert.Equal(BitConverter.HalfToUInt16Bits((Half)k[head * d + i]), keyCache[at]);
                    Assert.Equal(BitConverter.HalfToUInt16Bits((Half)v[head * d + i]), valueCache[at]);
                }
            keys[position] = k.Select(f => (float)(Half)f).ToArray();
            values[position] = v.Select(f => (float)(Half)f).ToArray();

            // softmax(q·kᵀ/√d)·v per head in double over positions 0..position, K/V head = head / (heads / kvHeads).
            for (int head = 0; head < heads; head++)
            {
                int kv = head / (heads / kvHeads);
                var logits = new double[position + 1];
                for (int p = 0; p <= position; p++)
                {
                    double dot = 0;
                    for (int i = 0; i < d; i++) dot += (double)q[head * d + i] * keys[p][kv * d + i];
                    logits[p] = dot / Math.Sqrt(d);
                }
                double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
                for (int i = 0; i < d; i++)
                {
                    double expected = 0;
                    for (int p = 0; p <= position; p++) expected += Math.Exp(logits[p] - max) / sum * values[p][kv * d + i];
                    Assert.True(Math.Abs(output[head * d + i] - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"attention head {head} dim {i} at {position}: {output[head * d + i]} vs {expected}");
                }
            }
        }
    }

    /// <summary>A random uniform linear; a few reserved weights (their code = the zero point); act order when asked.</summary>
    private static UniformWeights Build(int rows, int cols, int bits, int groupSize, bool actOrder, int seed)
    {
        var random = new Random(seed);
        int groups = (cols + groupSize - 1) / groupSize, levels = 1 << bits;
        var codes = Enumerable.Range(0, rows * cols).Select(_ => (byte)random.Next(levels)).ToArray();
        var scales = Enumerable.Range(0, rows * groups).Select(_ => (Half)(0.001 + 0.02 * random.NextDouble())).ToArray();
        var zeros = Enumerable.Range(0, rows * groups).Select(_ => (byte)random.Next(levels)).ToArray();
        int[]? groupIndex = actOrder ? Enumerable.Range(0, cols).Select(j => (j * 7 + 3) % groups).ToArray() : null;
        var reserved = Enumerable.Range(0, rows * cols).OrderBy(_ => random.Next()).Take(rows + 2).Order().Select(k => (uint)k).ToArray();
        foreach (uint k in reserved)
        {
            int r = (int)(k / cols), j = (int)(k % cols);
            codes[k] = zeros[r * groups + (groupIndex is null ? j / groupSize : groupIndex[j])];
        }
        var values = reserved.Select(_ => (Half)(random.NextDouble() - 0.5)).ToArray();
        return new UniformWeights(rows, cols, bits, groupSize, codes, scales, zeros, groupIndex, reserved, values);
    }
}

/// <summary>sageptq::RopeArgs as laid out by the x86-64 C++ compiler.</summary>
internal unsafe struct RopeArgs
{
    public float* Q, K, V, Cos, Sin;
    public ushort* KeyCache, ValueCache;
    public int Position, MaxPositions;
}

/// <summary>sageptq::AttentionArgs as laid out by the x86-64 C++ compiler.</summary>
internal unsafe struct AttentionArgs
{
    public float* Q;
    public ushort* KeyCache, ValueCache;
    public float* Scores, Output;
    public int Position, MaxPositions;
}
