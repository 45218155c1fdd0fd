using System.Text;
using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Cuda.Tests;

/// <summary>The harness of <see cref="EmulatedKernelTests"/>: the __global__ side on the emulator next to the host math.</summary>
public class EmulatorHarness : IDisposable
{
    /// <summary>
    /// Sage cases that take each path of the kernel: 16-byte and 4-byte sign loads, tails, unfolded scales, per-weight
    /// salient; Hadamard blocks within a warp's shuffles and past them, on chip and in global memory.
    /// </summary>
    public static readonly SageKernelCase[] SageCases = [.. new[] { 2, 3, 5, 6, 8, 10, 11 }.Select(i => SageKernelTests.Cases[i])];

    private readonly NativeHarness? _native;

    /// <summary>Compiles the harness once for the class (its tests are skipped when clang-14 is absent).</summary>
    public EmulatorHarness() : this(CudaSourceBuilder.DefaultSageRowsPerWarp, define: false)
    {
    }

    /// <summary>The harness with the sage fast path's rows per warp set as the host sets it (<c>-D</c>), or the header's default.</summary>
    protected EmulatorHarness(int sageRowsPerWarp, bool define)
    {
        SageRowsPerWarp = sageRowsPerWarp;
        if (Clang.CxxCompiler is not null)
            _native = new NativeHarness((define ? $"#define SAGEPTQ_SAGE_ROWS_PER_WARP {sageRowsPerWarp}\n" : "") + Source(), emulate: true);
    }

    /// <summary>Rows a warp takes at once on the sage fast path in this harness.</summary>
    public int SageRowsPerWarp { get; }

    internal NativeHarness Native => _native ?? throw new InvalidOperationException(Clang.Missing);

    private static string Source()
    {
        var source = new StringBuilder("""
            // A small on-chip buffer, so that the sage cases above 512 columns take prepare's global-memory path.
            #define SAGEPTQ_PREPARE_ON_CHIP_FLOATS 512
            #include "sageptq.cuh"
            using namespace sageptq;
            static LinearArgs Args(const void* const* sections, const long long* bytes) {
                LinearArgs a = {};
                for (int k = 0; k < SAGEPTQ_MAX_SECTIONS; k++) { a.sections[k] = sections[k]; a.section_bytes[k] = bytes[k]; }
                return a;
            }
            // Norm then quantize (block 32) on 2 tokens of 300; SwiGLU then quantize (block 256); x += delta.
            extern "C" void emu_norm(const float* x, const float* w, float* h, int8_t* codes, float* scales, int32_t* sums) {
                NormArgs a = {x, w, h, codes, scales, sums, 1e-5f, 32, 2, 0};
                emulator::launch(2, 1, SAGEPTQ_THREADS, [&] { rms_norm_quantize<300>(a); });
            }
            extern "C" void host_norm(const float* x, const float* w, float* h) { rms_norm_row<300>(x, w, 1e-5f, h); }
            extern "C" void host_quantize(const float* v, int n, int8_t* codes, float* scale, int32_t* sum) { quantize_block(v, n, codes, scale, sum); }
            extern "C" void emu_swiglu(const float* g, const float* u, float* out, int8_t* codes, float* scales, int32_t* sums) {
                SwigluArgs a = {g, u, out, codes, scales, sums, 256, 2};
                emulator::launch(2, 1, SAGEPTQ_THREADS, [&] { swiglu_quantize<300>(a); });
            }
            extern "C" float host_swiglu(float g, float u) { return swiglu(g, u); }
            extern "C" void emu_residual(float* x, const float* delta) {
                ResidualArgs a = {x, delta, 2, 0};
                emulator::launch(2, 1, SAGEPTQ_THREADS, [&] { add_residual<300>(a); });
            }
            // RoPE + cache and attention (4 heads, 2 KV heads, head size 16), device and host on separate copies.
            extern "C" void emu_rope(RopeArgs* device, RopeArgs* host) {
                emulator::launch(1, 1, SAGEPTQ_THREADS, [&] { rope_and_cache<4, 2, 16>(*device); });
                for (int e = 0; e < (4 + 2) * 8 + 2 * 16; e++) rope_element<4, 2, 16>(*host, e);
            }
            extern "C" void emu_attention(AttentionArgs* device, AttentionArgs* host) {
                emulator::launch(4, 1, SAGEPTQ_THREADS, [&] { attention<4, 2, 16>(*device); });
                for (int h = 0; h < 4; h++) attention_head<4, 2, 16>(*host, h);
            }
            extern "C" int emu_argmax(const float* values, int n) {
                int32_t id = -2;
                emulator::launch(1, 1, SAGEPTQ_THREADS, [&] { argmax(values, n, &id); });
                return id;
            }
            extern "C" void emu_rope_attention(RopeArgs* rope, AttentionArgs* attention) {
                emulator::launch(4, 1, SAGEPTQ_THREADS, [&] { rope_attention<4, 2, 16>(*rope, *attention); });
            }
            // f16 rows on one CTA (so warps stride over the rows), and the host sums of the lane shares.
            #define F16_CASE(COLS) \
            extern "C" void emu_f16_##COLS(const void* const* sections, const long long* bytes, const float* x, float* host, float* device) { \
                LinearArgs a = Args(sections, bytes); \
                for (int r = 0; r < 13; r++) { float s = 0; for (int l = 0; l < 32; l++) s += f16::row_partial<13, COLS>(a, x, r, l); host[r] = s; } \
                a.input = x; a.output = device; a.tokens = 1; \
                emulator::launch(1, 1, SAGEPTQ_THREADS, [&] { f16::gemv<13, COLS>(a); }); \
            }
            F16_CASE(77)
            F16_CASE(328)

            """);
        foreach (var u in OtherHarness.UniformSets)
        {
            string t = string.Join(", ", u), id = string.Join("_", u);
            source.Append($$"""
                extern "C" void emu_uniform_{{id}}(const void* const* sections, const long long* bytes, const float* x, int8_t* codes, float* scales, int32_t* sums, float* host, float* device) {
                    LinearArgs a = Args(sections, bytes);
                    uniform::prepare<{{t}}>(x, codes, scales, sums);
                    for (int r = 0; r < {{u[0]}}; r++) { float s = 0; for (int l = 0; l < 32; l++) s += uniform::row_partial<{{t}}>(a, codes, scales, x, r, l); host[r] = s; }
                    a.codes = codes; a.scales = scales; a.sums = sums; a.input = x; a.output = device; a.tokens = 1;
                    emulator::launch(1, 1, SAGEPTQ_THREADS, [&] { uniform::gemv<{{t}}>(a); });
                }

                """);
        }
        foreach (var c in SageKernelTests.Cases)
            source.Append($"extern \"C\" int rows_per_warp_{c.Id}() {{ return sage::Linear<{Constants(c)}>::RowsPerWarp; }}\n");
        foreach (var c in SageCases)
        {
            string t = Constants(c);
            source.Append($$"""
                // Two tokens: the host prepare and lane sums, then prepare_activation and gemv (one CTA in x, so
                // warps stride over the rows; tokens in y), then gemv again with a residual.
                extern "C" void emu_sage_{{c.Id}}(const void* const* sections, const long long* bytes, const float* x, unsigned long long seed,
                    float* hostRotated, float* hostWork, int8_t* hostCodes, float* hostScales, int32_t* hostSums, float* hostTotals, float* hostY,
                    float* rotated, float* work, int8_t* codes, float* scales, int32_t* sums, float* totals, float* y, const float* residual, float* y2)
                {
                    const int R = {{c.Rows}}, C = {{c.Cols}}, B = (C + 255) / 256;
                    LinearArgs a = Args(sections, bytes);
                    for (int t = 0; t < 2; t++) {
                        sage::prepare<{{t}}>(a, x + t * C, seed, hostRotated + t * C, hostWork + t * C, hostCodes + t * C, hostScales + t * B, hostSums + t * B, hostTotals + 4 * t);
                        for (int r = 0; r < R; r++) {
                            float s = 0;
                            for (int l = 0; l < 32; l++) s += sage::row_partial<{{t}}>(a, hostCodes + t * C, hostScales + t * B, hostRotated + t * C, hostTotals + 4 * t, r, l);
                            hostY[t * R + r] = s;
                        }
                    }
                    sage::PrepareArgs p = {};
                    for (int k = 0; k < SAGEPTQ_MAX_SECTIONS; k++) p.sections[k] = sections[k];
                    p.x = x; p.rotated = rotated; p.work = work; p.codes = codes; p.scales = scales; p.sums = sums; p.totals = totals; p.seed = seed;
                    emulator::launch(2, 1, SAGEPTQ_THREADS, [&] { sage::prepare_activation<{{t}}>(p); });
                    a.codes = codes; a.scales = scales; a.sums = sums; a.input = rotated; a.totals = totals; a.output = y; a.tokens = 2;
                    emulator::launch(1, 2, SAGEPTQ_THREADS, [&] { sage::gemv<{{t}}>(a); });
                    a.output = y2; a.residual = residual;
                    emulator::launch(1, 2, SAGEPTQ_THREADS, [&] { sage::gemv<{{t}}>(a); });
                }

                """);
        }
        return source.ToString();
    }

    /// <summary>The sage template constants of a case, in the header's order.</summary>
    private static string Constants(SageKernelCase c) => $"{c.Rows}, {c.Cols}, {(int)c.Flags}, {c.Groups}, {c.SalientBits}, {c.Salient}, {c.ScaleMode}";

    public void Dispose()
    {
        _native?.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The emulator harness with three rows a warp on the sage fast path: odd, so the last group of a CTA's rows is partial.</summary>
public sealed class ThreeRowsPerWarpHarness() : EmulatorHarness(3, define: true);

/// <summary>
/// The __global__ side of sageptq.cuh (shared-memory staging, warp shuffles, CTA barriers, row striding,
/// token strides, the 16-byte load paths, prepare_activation) run on the CPU emulator, where every CUDA
/// thread is a host thread, and compared with the header's host math that the other tests check against
/// the project's oracles: bit for bit where the operations are the same, within float reordering where a
/// reduction tree replaces a sequential sum.
/// </summary>
public sealed unsafe class EmulatedKernelTests(EmulatorHarness harness, ThreeRowsPerWarpHarness threeRows)
    : IClassFixture<EmulatorHarness>, IClassFixture<ThreeRowsPerWarpHarness>
{
    public static TheoryData<SageKernelCase> SageCases() => new(EmulatorHarness.SageCases);

    [ClangTheory]
    [MemberData(nameof(SageCases))]
    public void SageKernelsMatchTheHostMath(SageKernelCase c) => RunSage(harness, c, misalign: false);

    /// <summary>
    /// Sections 4 bytes past a 16-byte boundary: the gemv falls back to one row at a time with 4-byte sign loads, and
    /// must give the bits of the aligned run (where a warp takes four rows at once on the fast path).
    /// </summary>
    [ClangTheory]
    [MemberData(nameof(SageCases))]
    public void SageGemvGivesTheSameBitsAtAnyAlignment(SageKernelCase c)
    {
        var aligned = RunSage(harness, c, misalign: false);
        var misaligned = RunSage(harness, c, misalign: true);
        Assert.Equal(aligned, misaligned);
    }

    /// <summary>The rows a warp takes at once are a speed knob only: three give the bits of four (each checked against the host math too).</summary>
    [ClangTheory]
    [MemberData(nameof(SageCases))]
    public void SageGemvGivesTheSameBitsAtAnyRowsPerWarp(SageKernelCase c) =>
        Assert.Equal(RunSage(harness, c, misalign: false), RunSage(threeRows, c, misalign: false));

    /// <summary>The host sizes gemv grids by CudaSourceBuilder.RowsPerWarp: the header's rule, for every kind of sage linear and both knob settings.</summary>
    [ClangFact]
    public void HostRowsPerWarpIsTheHeaders()
    {
        foreach (var h in new[] { harness, threeRows })
            foreach (var c in SageKernelTests.Cases)
            {
                var parameters = new Dictionary<string, int>
                {
                    ["flags"] = (int)c.Flags, ["groups"] = c.Groups, ["salient_bits"] = c.SalientBits, ["salient_count"] = c.Salient, ["scale_mode"] = c.ScaleMode,
                };
                var record = new LinearRecord("w", 0, c.Rows, c.Cols, "sage", parameters, [], new LinearStats(c.Groups, 0, 0, c.SalientBits, 1));
                int header = ((delegate* unmanaged<int>)h.Native.Export($"rows_per_warp_{c.Id}"))();
                Assert.Equal(header, CudaSourceBuilder.RowsPerWarp(record, h.SageRowsPerWarp));
            }
    }

    /// <summary>Runs case <paramref name="c"/> on two tokens in <paramref name="harness"/>, checks it against the host math, and returns the gemv's outputs.</summary>
    private static float[] RunSage(EmulatorHarness harness, SageKernelCase c, bool misalign)
    {
        var e = SageKernelTests.Build(c, seed: SageKernelTests.StableSeed(c.Id));
        var payload = SageLayout.Encode(e);
        int rows = c.Rows, cols = c.Cols, blocks = (cols + 255) / 256;
        var x = SageKernelTests.Inputs(2 * cols, seed: 77);
        var residual = SageKernelTests.Inputs(2 * rows, seed: 78);
        float[] F(int n) => new float[n];
        var (hostRotated, hostWork, hostScales, hostTotals, hostY) = (F(2 * cols), F(2 * cols), F(2 * blocks), F(8), F(2 * rows));
        var (rotated, work, scales, totals, y, y2) = (F(2 * cols), F(2 * cols), F(2 * blocks), F(8), F(2 * rows), F(2 * rows));
        var (hostCodes, codes) = (new sbyte[2 * cols], new sbyte[2 * cols]);
        var (hostSums, sums) = (new int[2 * blocks], new int[2 * blocks]);
        var call = (delegate* unmanaged<nint*, long*, float*, ulong, float*, float*, sbyte*, float*, int*, float*, float*,
            float*, float*, sbyte*, float*, int*, float*, float*, float*, float*, void>)harness.Native.Export($"emu_sage_{c.Id}");
        using (var pinned = new PinnedSections(payload.Sections.Select(s => s.Bytes).ToList(), misalign))
        fixed (nint* sp = pinned.Pointers)
        fixed (long* lp = pinned.Lengths)
        fixed (float* xp = x, hr = hostRotated, hw = hostWork, hd = hostScales, ht = hostTotals, hy = hostY)
        fixed (float* dr = rotated, dw = work, dd = scales, dt = totals, dy = y, rp = residual, dy2 = y2)
        fixed (sbyte* hq = hostCodes, dq = codes)
        fixed (int* hs = hostSums, ds = sums)
            call(sp, lp, xp, e.RotationSeed, hr, hw, hq, hd, hs, ht, hy, dr, dw, dq, dd, ds, dt, dy, rp, dy2);

        Assert.Equal(hostRotated, rotated);
        Assert.Equal(hostCodes, codes);
        Assert.Equal(hostScales, scales);
        Assert.Equal(hostSums, sums);
        for (int t = 0; t < 2; t++)
        {
            Assert.Equal(hostTotals[4 * t], totals[4 * t]);   // Σ d_b·Σq_b: the same sequential sum
            double size = x.Skip(t * cols).Take(cols).Sum(v => Math.Abs((double)v)) * (1 << c.SalientBits);
            for (int k = 1; k < 3; k++) Assert.True(Math.Abs(hostTotals[4 * t + k] - totals[4 * t + k]) <= 1e-6 * size, $"token {t} total {k}");
        }
        double scale = hostY.Max(v => Math.Abs((double)v));
        for (int i = 0; i < 2 * rows; i++)
        {
            Assert.True(Math.Abs(y[i] - hostY[i]) <= 1e-5 * scale + 1e-7, $"output {i}: emulated {y[i]} vs host {hostY[i]}");
            Assert.Equal(y[i] + residual[i], y2[i]);
        }
        return y;
    }

    [ClangFact]
    public void UniformAndF16KernelsMatchTheHostMath()
    {
        foreach (var u in OtherHarness.UniformSets)
        {
            int rows = u[0], cols = u[1], blocks = (cols + 31) / 32;
            var random = new Random(cols);
            var w = UniformFixture(rows, cols, u[2], u[3], random);
            var x = SageKernelTests.Inputs(cols, seed: 5);
            var (codes, scales, sums, host, device) = (new sbyte[cols], new float[blocks], new int[blocks], new float[rows], new float[rows]);
            var call = (delegate* unmanaged<nint*, long*, float*, sbyte*, float*, int*, float*, float*, void>)harness.Native.Export($"emu_uniform_{string.Join("_", u)}");
            using (var pinned = new PinnedSections(UniformLayout.Encode(w).Sections.Select(s => s.Bytes).ToList()))
            fixed (nint* sp = pinned.Pointers)
            fixed (long* lp = pinned.Lengths)
            fixed (float* xp = x, dp = scales, hp = host, yp = device)
            fixed (sbyte* qp = codes)
            fixed (int* sump = sums)
                call(sp, lp, xp, qp, dp, sump, hp, yp);
            double scale = host.Max(v => Math.Abs((double)v));
            for (int r = 0; r < rows; r++) Assert.True(Math.Abs(device[r] - host[r]) <= 1e-5 * scale + 1e-7, $"uniform {string.Join(",", u)} row {r}: {device[r]} vs {host[r]}");
        }
        foreach (int cols in new[] { 77, 328 })
        {
            var random = new Random(cols);
            var weight = Enumerable.Range(0, 13 * cols).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var x = SageKernelTests.Inputs(cols, seed: 6);
            var (host, device) = (new float[13], new float[13]);
            var call = (delegate* unmanaged<nint*, long*, float*, float*, float*, void>)harness.Native.Export($"emu_f16_{cols}");
            using (var pinned = new PinnedSections(F16Layout.Encode(weight, 13, cols).Payload.Sections.Select(s => s.Bytes).ToList()))
            fixed (nint* sp = pinned.Pointers)
            fixed (long* lp = pinned.Lengths)
            fixed (float* xp = x, hp = host, yp = device)
                call(sp, lp, xp, hp, yp);
            double scale = host.Max(v => Math.Abs((double)v));
            for (int r = 0; r < 13; r++) Assert.True(Math.Abs(device[r] - host[r]) <= 1e-5 * scale + 1e-7, $"f16 {cols} row {r}: {device[r]} vs {host[r]}");
        }
    }

    [ClangFact]
    public void NormSwigluAndResidualKernelsMatchTheHostMath()
    {
        const int n = 300;
        var x = SageKernelTests.Inputs(2 * n, seed: 1);
        var weight = SageKernelTests.Inputs(n, seed: 2);
        var (h, hostH) = (new float[2 * n], new float[n]);
        var (codes, scales, sums) = (new sbyte[2 * n], new float[2 * 10], new int[2 * 10]);
        fixed (float* xp = x, wp = weight, hp = h, dp = scales, hh = hostH)
        fixed (sbyte* qp = codes)
        fixed (int* sp = sums)
        {
            ((delegate* unmanaged<float*, float*, float*, sbyte*, float*, int*, void>)harness.Native.Export("emu_norm"))(xp, wp, hp, qp, dp, sp);
            for (int t = 0; t < 2; t++)
            {
                ((delegate* unmanaged<float*, float*, float*, void>)harness.Native.Export("host_norm"))(xp + t * n, wp, hh);
                for (int i = 0; i < n; i++) Assert.True(Math.Abs(h[t * n + i] - hostH[i]) <= 1e-6 * (1 + Math.Abs(hostH[i])), $"norm token {t} {i}");
            }
        }
        CheckQuantized(h, codes, scales, sums, 32);

        var up = SageKernelTests.Inputs(2 * n, seed: 3);
        var output = new float[2 * n];
        var (codes2, scales2, sums2) = (new sbyte[2 * n], new float[2 * 2], new int[2 * 2]);
        fixed (float* gp = x, upp = up, op = output, dp = scales2)
        fixed (sbyte* qp = codes2)
        fixed (int* sp = sums2)
            ((delegate* unmanaged<float*, float*, float*, sbyte*, float*, int*, void>)harness.Native.Export("emu_swiglu"))(gp, upp, op, qp, dp, sp);
        var hostSwiglu = (delegate* unmanaged<float, float, float>)harness.Native.Export("host_swiglu");
        for (int i = 0; i < 2 * n; i++) Assert.Equal(hostSwiglu(x[i], up[i]), output[i]);
        CheckQuantized(output, codes2, scales2, sums2, 256);

        var sum = x.ToArray();
        fixed (float* sp = sum, dp = up) ((delegate* unmanaged<float*, float*, void>)harness.Native.Export("emu_residual"))(sp, dp);
        for (int i = 0; i < 2 * n; i++) Assert.Equal(x[i] + up[i], sum[i]);
    }

    /// <summary>The kernel's int8 activation of its own float output equals quantize_block on that output, token by token.</summary>
    private void CheckQuantized(float[] v, sbyte[] codes, float[] scales, int[] sums, int block)
    {
        const int n = 300;
        int blocks = (n + block - 1) / block;
        var quantize = (delegate* unmanaged<float*, int, sbyte*, float*, int*, void>)harness.Native.Export("host_quantize");
        for (int t = 0; t < 2; t++)
            for (int b = 0; b < blocks; b++)
            {
                int start = b * block, length = Math.Min(block, n - start);
                var expected = new sbyte[length];
                float scale;
                int total;
                fixed (float* vp = &v[t * n + start])
                fixed (sbyte* ep = expected)
                    quantize(vp, length, ep, &scale, &total);
                Assert.Equal(expected, codes.AsSpan(t * n + start, length).ToArray());
                Assert.Equal(scale, scales[t * blocks + b]);
                Assert.Equal(total, sums[t * blocks + b]);
            }
    }

    [ClangFact]
    public void RopeAndAttentionKernelsMatchTheHostMath()
    {
        const int heads = 4, kvHeads = 2, d = 16, maxPositions = 5, cacheHalves = kvHeads * maxPositions * d;
        var cos = SageKernelTests.Inputs(maxPositions * d / 2, seed: 11);
        var sin = SageKernelTests.Inputs(maxPositions * d / 2, seed: 12);
        var (deviceKeys, deviceValues, hostKeys, hostValues) = (new ushort[cacheHalves], new ushort[cacheHalves], new ushort[cacheHalves], new ushort[cacheHalves]);
        var (fusedKeys, fusedValues) = (new ushort[cacheHalves], new ushort[cacheHalves]);
        for (int position = 0; position < maxPositions; position++)
        {
            var q = SageKernelTests.Inputs(heads * d, seed: 20 + position);
            var k = SageKernelTests.Inputs(kvHeads * d, seed: 30 + position);
            var v = SageKernelTests.Inputs(kvHeads * d, seed: 40 + position);
            var (hostQ, hostK, fusedQ, fusedK) = (q.ToArray(), k.ToArray(), q.ToArray(), k.ToArray());
            var (output, hostOutput, fusedOutput) = (new float[heads * d], new float[heads * d], new float[heads * d]);
            var (scores, hostScores, fusedScores) = (new float[heads * maxPositions], new float[heads * maxPositions], new float[heads * maxPositions]);
            fixed (float* qp = q, kp = k, vp = v, hq = hostQ, hk = hostK, fq = fusedQ, fk = fusedK, cp = cos, sp = sin)
            fixed (float* op = output, ho = hostOutput, fo = fusedOutput, sc = scores, hs = hostScores, fs = fusedScores)
            fixed (ushort* dk = deviceKeys, dv = deviceValues, hkc = hostKeys, hvc = hostValues, fkc = fusedKeys, fvc = fusedValues)
            {
                var device = new RopeArgs { Q = qp, K = kp, V = vp, Cos = cp, Sin = sp, KeyCache = dk, ValueCache = dv, Position = position, MaxPositions = maxPositions };
                var host = new RopeArgs { Q = hq, K = hk, V = vp, Cos = cp, Sin = sp, KeyCache = hkc, ValueCache = hvc, Position = position, MaxPositions = maxPositions };
                ((delegate* unmanaged<RopeArgs*, RopeArgs*, void>)harness.Native.Export("emu_rope"))(&device, &host);
                var deviceAttention = new AttentionArgs { Q = qp, KeyCache = dk, ValueCache = dv, Scores = sc, Output = op, Position = position, MaxPositions = maxPositions };
                var hostAttention = new AttentionArgs { Q = hq, KeyCache = hkc, ValueCache = hvc, Scores = hs, Output = ho, Position = position, MaxPositions = maxPositions };
                ((delegate* unmanaged<AttentionArgs*, AttentionArgs*, void>)harness.Native.Export("emu_attention"))(&deviceAttention, &hostAttention);
                var fused = new RopeArgs { Q = fq, K = fk, V = vp, Cos = cp, Sin = sp, KeyCache = fkc, ValueCache = fvc, Position = position, MaxPositions = maxPositions };
                var fusedAttention = new AttentionArgs { Q = fq, KeyCache = fkc, ValueCache = fvc, Scores = fs, Output = fo, Position = position, MaxPositions = maxPositions };
                ((delegate* unmanaged<RopeArgs*, AttentionArgs*, void>)harness.Native.Export("emu_rope_attention"))(&fused, &fusedAttention);
            }
            Assert.Equal(hostQ, q);
            Assert.Equal(hostK, k);
            Assert.Equal(hostKeys, deviceKeys);
            Assert.Equal(hostValues, deviceValues);
            for (int i = 0; i < output.Length; i++)
                Assert.True(Math.Abs(output[i] - hostOutput[i]) <= 1e-5 * (1 + Math.Abs(hostOutput[i])), $"attention {i} at {position}: {output[i]} vs {hostOutput[i]}");
            // RoPE and attention in one launch: the two kernels' cache and output bit for bit (its q and k stay unrotated).
            Assert.Equal(deviceKeys, fusedKeys);
            Assert.Equal(deviceValues, fusedValues);
            Assert.Equal(output, fusedOutput);
        }
    }

    [ClangFact]
    public void The_greedy_argmax_is_the_samplers_lowest_id_of_the_largest_value()
    {
        var random = new Random(9);
        List<float[]> cases =
        [
            [3f],
            [1f, 1f, 1f],
            Enumerable.Range(0, 1000).Select(i => (float)i).ToArray(),
            Enumerable.Range(0, 1000).Select(i => -(float)i - 1).ToArray(),
            Enumerable.Repeat(float.NegativeInfinity, 300).Append(-1e30f).ToArray(),
        ];
        for (int n = 255; n <= 32000; n = n * 3 + 1)
        {
            var values = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() * 10 - 5).ToArray();
            // The largest value at a few places, strided so that different threads and warps hold ties.
            float max = values.Max() + 1;
            foreach (int at in new[] { n - 1, n / 2, n / 3 + 7, 40 }) if (at < n) values[at] = max;
            cases.Add(values);
        }
        var argmax = (delegate* unmanaged<float*, int, int>)harness.Native.Export("emu_argmax");
        foreach (var values in cases)
            fixed (float* p = values)
                Assert.Equal(SagePtq.Runtime.Generation.Sampler.ArgMax(values), argmax(p, values.Length));
    }

    internal static UniformWeights UniformFixture(int rows, int cols, int bits, int groupSize, Random random)
    {
        int groups = (cols + groupSize - 1) / groupSize, levels = 1 << bits;
        var codes = Enumerable.Range(0, rows * cols).Select(_ => (byte)random.Next(levels)).ToArray();
        var scales = Enumerable.Range(0, rows * groups).Select(_ => (Half)(0.001 + 0.02 * random.NextDouble())).ToArray();
        var zeros = Enumerable.Range(0, rows * groups).Select(_ => (byte)random.Next(levels)).ToArray();
        uint[] reserved = [3, (uint)(cols + 1), (uint)(rows * cols - 1)];
        foreach (uint k in reserved) codes[k] = zeros[(int)(k / cols) * groups + (int)(k % cols) / groupSize];
        return new UniformWeights(rows, cols, bits, groupSize, codes, scales, zeros, null, reserved, [(Half)0.25, (Half)(-0.5), (Half)0.125]);
    }
}
