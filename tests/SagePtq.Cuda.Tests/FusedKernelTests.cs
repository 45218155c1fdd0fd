using System.Text;
using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Tests;

namespace SagePtq.Cuda.Tests;

/// <summary>
/// The fused launches the CUDA decode step runs (CudaSourceBuilder.LayerDecodeSource, the emitted text itself) on
/// the emulator, against the same layer run one kernel at a time (norm kernel, each linear's prepare and gemv, the
/// SwiGLU kernel). Layer 1 of a manifest whose q, k, v are sage, uniform and f16 (so the q/k/v launch gives three
/// layouts their CTA ranges, and the prepare launch normalizes for one sage linear) and whose gate and up are two
/// different sage linears (a two-CTA prepare, and gate and up with the SwiGLU in one launch). Two tokens.
/// </summary>
public sealed class FusedHarness : IDisposable
{
    public const int Cols = 256, Tokens = 2;
    public static readonly SageKernelCase Q = new(17, Cols, SageFlags.Rotated, 3, 8, 8, 1);
    public static readonly int[] K = [9, Cols, 2, 128];
    public const int VRows = 13;
    public static readonly SageKernelCase Gate = new(17, Cols, SageFlags.RowOffsets, 2, 4, 5, 0);
    public static readonly SageKernelCase Up = new(17, Cols, SageFlags.Rotated, 3, 8, 8, 1);

    /// <summary>The five payloads in role order q, k, v, gate, up, and the seeds their prepare steps take.</summary>
    public LinearPayload[] Payloads { get; }
    public ulong[] Seeds { get; }

    private readonly NativeHarness? _native;

    public FusedHarness()
    {
        var q = SageKernelTests.Build(Q, seed: 101);
        var gate = SageKernelTests.Build(Gate, seed: 102);
        var up = SageKernelTests.Build(Up, seed: 103);
        var random = new Random(104);
        var k = EmulatedKernelTests.UniformFixture(K[0], K[1], K[2], K[3], random);
        var v = Enumerable.Range(0, VRows * Cols).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        Payloads = [SageLayout.Encode(q), UniformLayout.Encode(k), F16Layout.Encode(v, VRows, Cols).Payload, SageLayout.Encode(gate), SageLayout.Encode(up)];
        Seeds = [q.RotationSeed, 0, 0, gate.RotationSeed, up.RotationSeed];
        if (Clang.CxxCompiler is not null) _native = new NativeHarness(Source(EmittedLayer(Payloads)) + StepEnds(), emulate: true);
    }

    internal NativeHarness Native => _native ?? throw new InvalidOperationException(Clang.Missing);

    /// <summary>
    /// The decode source of layer 1 of the sagelm-7m fixture manifest with that layer's linears replaced by these
    /// payloads, and the manifest's model-wide decode source (embedding lookup, greedy argmax, ...).
    /// </summary>
    private static string EmittedLayer(LinearPayload[] payloads)
    {
        var path = Path.Combine(TestAssets.RepoRoot, "tests", "SagePtq.Generator.Tests", "Fixtures", "sagelm-7m-sage.manifest.json");
        var bytes = File.ReadAllBytes(path);
        var manifest = ManifestJson.Parse(bytes, path);
        string[] roles = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"];
        var replaced = roles.Select((role, m) => (Name: CudaSourceBuilder.LinearName(1, role), Payload: payloads[m])).ToDictionary(r => r.Name, r => r.Payload);
        var linears = manifest.Linears.Select(l => replaced.TryGetValue(l.Name, out var p)
            ? l with { Rows = p.Rows, Cols = p.Cols, Layout = p.Layout, Parameters = p.Parameters } : l).ToList();
        var changed = manifest with { Linears = linears };
        var builder = new CudaSourceBuilder(changed, "fused-test", CudaSourceBuilder.Sha256Hex(bytes));
        return builder.LayerDecodeSource(1).Source + builder.BackendSource(CudaDecodePlan.Create(manifest, null).LmHead);
    }

    /// <summary>The fixture's hidden size and vocabulary (the emitted embedding and argmax kernels' constants).</summary>
    public const int Hidden = 256, Vocab = 4096;

    /// <summary>The greedy step's end and the next step's start, the emitted kernels on the emulator.</summary>
    private static string StepEnds() => """
        extern "C" void emu_greedy_then_embed(const float* logits, int* step, const float* table, float* x)
        {
            emulator::launch(1, 1, SAGEPTQ_THREADS, [&] { greedy_token(logits, step); });
            emulator::launch(1, 1, SAGEPTQ_THREADS, [&] { embed_token(table, step, x); });
        }
        """;

    private static string Constants(SageKernelCase c) => $"{c.Rows}, {c.Cols}, {(int)c.Flags}, {c.Groups}, {c.SalientBits}, {c.Salient}, {c.ScaleMode}";

    /// <summary>CTAs of the q/k/v launch: ⌈rows / 8⌉ per linear, as CudaModel launches it.</summary>
    public static int QkvCtas => (Q.Rows + 7) / 8 + (K[0] + 7) / 8 + (VRows + 7) / 8;

    /// <summary>Floats each path writes: y of q, k, v, the SwiGLU, then per prepared linear (q, gate, up) x', scales, sums, totals.</summary>
    public static int OutputFloats => Tokens * (Q.Rows + K[0] + VRows + Gate.Rows) + 3 * Tokens * (Cols + 1 + 1 + 4);

    private static string Source(string emitted) => $$"""
        #include "sageptq.cuh"
        #include <vector>
        using namespace sageptq;

        {{emitted}}

        // path 0: one kernel at a time; path 1: the fused launches above. Members: 0 q, 1 k, 2 v, 3 gate, 4 up.
        extern "C" void emu_layer(int path, const void* const* sections, const long long* bytes, const unsigned long long* seeds,
                                  const float* x, const float* norm, float* out)
        {
            const int C = {{Cols}}, T = {{Tokens}}, RQ = {{Q.Rows}}, RK = {{K[0]}}, RV = {{VRows}}, RI = {{Gate.Rows}};
            std::vector<float> h(T * C), hScales(T * C / 32), gateY(T * RI), upY(T * RI);
            std::vector<int8_t> hCodes(T * C);
            std::vector<int32_t> hSums(T * C / 32);
            NormArgs n = {x, norm, h.data(), hCodes.data(), hScales.data(), hSums.data(), 1e-5f, 32, T, 0};
            emulator::launch(T, 1, SAGEPTQ_THREADS, [&] { rms_norm_quantize<C>(n); });   // k and v read h on both paths

            // The sage activations of q, gate and up, each in its own scratch.
            const int prepared[3] = {0, 3, 4};
            std::vector<float> rotated[3], work[3], scales[3], totals[3];
            std::vector<int8_t> codes[3];
            std::vector<int32_t> sums[3];
            sage::PrepareArgs p[3];
            for (int i = 0; i < 3; i++) {
                rotated[i].assign(T * C, 0); work[i].assign(T * C, 0); scales[i].assign(T, 0); totals[i].assign(4 * T, 0);
                codes[i].assign(T * C, 0); sums[i].assign(T, 0);
                p[i] = {};
                for (int k = 0; k < SAGEPTQ_MAX_SECTIONS; k++) p[i].sections[k] = sections[10 * prepared[i] + k];
                p[i].x = path == 0 ? h.data() : x;   // the fused prepare normalizes x itself
                p[i].rotated = rotated[i].data(); p[i].work = work[i].data(); p[i].codes = codes[i].data(); p[i].scales = scales[i].data();
                p[i].sums = sums[i].data(); p[i].totals = totals[i].data(); p[i].seed = seeds[prepared[i]];
            }
            LinearArgs a[5];
            for (int m = 0; m < 5; m++) {
                a[m] = {};
                for (int k = 0; k < SAGEPTQ_MAX_SECTIONS; k++) { a[m].sections[k] = sections[10 * m + k]; a[m].section_bytes[k] = bytes[10 * m + k]; }
                a[m].tokens = T;
            }
            for (int i = 0; i < 3; i++) {
                LinearArgs& s = a[prepared[i]];
                s.codes = codes[i].data(); s.scales = scales[i].data(); s.sums = sums[i].data(); s.input = rotated[i].data(); s.totals = totals[i].data();
            }
            a[1].codes = hCodes.data(); a[1].scales = hScales.data(); a[1].sums = hSums.data(); a[1].input = h.data();
            a[2].input = h.data();
            float* y = out;
            a[0].output = y; a[1].output = y + T * RQ; a[2].output = y + T * (RQ + RK);
            float* swiglu = y + T * (RQ + RK + RV);

            if (path == 0) {
                emulator::launch(T, 1, SAGEPTQ_THREADS, [&] { sage::prepare_activation<{{Constants(Q)}}>(p[0]); });
                emulator::launch(T, 1, SAGEPTQ_THREADS, [&] { sage::prepare_activation<{{Constants(Gate)}}>(p[1]); });
                emulator::launch(T, 1, SAGEPTQ_THREADS, [&] { sage::prepare_activation<{{Constants(Up)}}>(p[2]); });
                emulator::launch(1, T, SAGEPTQ_THREADS, [&] { sage::gemv<{{Constants(Q)}}>(a[0]); });
                emulator::launch(1, T, SAGEPTQ_THREADS, [&] { uniform::gemv<{{string.Join(", ", K)}}>(a[1]); });
                emulator::launch(1, T, SAGEPTQ_THREADS, [&] { f16::gemv<{{VRows}}, {{Cols}}>(a[2]); });
                a[3].output = gateY.data(); a[4].output = upY.data();
                emulator::launch(1, T, SAGEPTQ_THREADS, [&] { sage::gemv<{{Constants(Gate)}}>(a[3]); });
                emulator::launch(1, T, SAGEPTQ_THREADS, [&] { sage::gemv<{{Constants(Up)}}>(a[4]); });
                SwigluArgs s = {gateY.data(), upY.data(), swiglu, 0, 0, 0, 32, T};
                emulator::launch(T, 1, SAGEPTQ_THREADS, [&] { swiglu_quantize<RI>(s); });
            } else {
                PrefetchArgs none = {};   // a hint the emulator has no cache for
                emulator::launch(1, T, SAGEPTQ_THREADS, [&] { layer01_qkv_prepare(p[0], norm, 1e-5f, none); });
                emulator::launch({{QkvCtas}}, T, SAGEPTQ_THREADS, [&] { layer01_qkv(a[0], a[1], a[2]); });
                emulator::launch(2, T, SAGEPTQ_THREADS, [&] { layer01_gate_up_prepare(p[1], p[2], norm, 1e-5f, none); });
                a[3].output = swiglu; a[4].output = swiglu;
                emulator::launch((RI + 7) / 8, T, SAGEPTQ_THREADS, [&] { layer01_gate_up(a[3], a[4]); });
            }
            float* at = swiglu + T * RI;
            for (int i = 0; i < 3; i++) {
                for (int k = 0; k < T * C; k++) *at++ = rotated[i][k];
                for (int t = 0; t < T; t++) { *at++ = scales[i][t]; *at++ = (float)sums[i][t]; }
                for (int k = 0; k < 4 * T; k++) *at++ = totals[i][k];
            }
        }
        """;

    public void Dispose() => _native?.Dispose();
}

public sealed unsafe class FusedKernelTests(FusedHarness harness) : IClassFixture<FusedHarness>
{
    [ClangFact]
    public void A_greedy_step_writes_its_argmax_and_the_next_position_and_the_next_step_starts_from_that_row()
    {
        var logits = SageKernelTests.Inputs(FusedHarness.Vocab, seed: 107);
        logits[3001] = 100;
        logits[3900] = 100;   // a tie: the lower id wins
        var table = SageKernelTests.Inputs(FusedHarness.Vocab * FusedHarness.Hidden, seed: 108);
        int[] step = [17, 41];
        var x = new float[FusedHarness.Hidden];
        fixed (float* lp = logits, tp = table, xp = x)
        fixed (int* sp = step)
            ((delegate* unmanaged<float*, int*, float*, float*, void>)harness.Native.Export("emu_greedy_then_embed"))(lp, sp, tp, xp);
        Assert.Equal([3001, 42], step);
        Assert.Equal(table.AsSpan(3001 * FusedHarness.Hidden, FusedHarness.Hidden).ToArray(), x);
    }

    [ClangFact]
    public void The_fused_launches_give_the_bits_of_the_kernels_run_one_at_a_time()
    {
        var x = SageKernelTests.Inputs(FusedHarness.Tokens * FusedHarness.Cols, seed: 105);
        var norm = SageKernelTests.Inputs(FusedHarness.Cols, seed: 106);
        var (separate, fused) = (new float[FusedHarness.OutputFloats], new float[FusedHarness.OutputFloats]);
        var sections = new nint[50];
        var lengths = new long[50];
        var pinned = harness.Payloads.Select(p => new PinnedSections(p.Sections.Select(s => s.Bytes).ToList())).ToArray();
        try
        {
            for (int m = 0; m < 5; m++)
            {
                pinned[m].Pointers.CopyTo(sections, 10 * m);
                pinned[m].Lengths.CopyTo(lengths, 10 * m);
            }
            var layer = (delegate* unmanaged<int, nint*, long*, ulong*, float*, float*, float*, void>)harness.Native.Export("emu_layer");
            fixed (nint* sp = sections)
            fixed (long* lp = lengths)
            fixed (ulong* seeds = harness.Seeds)
            fixed (float* xp = x, np = norm, a = separate, b = fused)
            {
                layer(0, sp, lp, seeds, xp, np, a);
                layer(1, sp, lp, seeds, xp, np, b);
            }
        }
        finally
        {
            foreach (var p in pinned) p.Dispose();
        }
        Assert.Contains(separate, v => v != 0);
        for (int i = 0; i < separate.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(separate[i]) == BitConverter.SingleToInt32Bits(fused[i]), $"output {i}: one at a time {separate[i]}, fused {fused[i]}");
    }
}
