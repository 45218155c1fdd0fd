using System.Diagnostics;
using System.Runtime.InteropServices;
using SagePtq.Runtime.Compiled;
using SagePtq.Runtime.Cpu;

namespace SagePtq.Quantizer.Bench;

/// <summary>
/// <c>sageptq bench --profile</c>: where a decode token's time goes on the CPU backend. Times each part of a
/// token on its own, side by side in one run: the sign kernel alone in L1 and in L2 (one thread), every
/// linear shape of the pack in cache and streamed from memory (each part of every layer in turn, the way a
/// token reads them), the decoder's products against a streaming read of this machine, the products'
/// <c>Prepare</c> step, the LM head, a worker-pool loop with no work, and a whole decode token. Every figure is
/// the median of its repetitions.
/// </summary>
internal static unsafe partial class KernelProfile
{
    /// <summary>
    /// Writes the profile of <paramref name="model"/> (decoding at position <paramref name="position"/>) to
    /// <paramref name="o"/>; with <paramref name="context"/>, also attention over that many cached positions.
    /// <paramref name="bandwidthBytes"/> is the buffer of the streaming read the decoder's products are set against.
    /// </summary>
    public static void Run(CpuModel model, int position, int repeat, TextWriter o, long bandwidthBytes, int? context = null)
    {
        var pool = new WorkerPool(model.Threads);
        try
        {
            o.WriteLine($"profile: {model.Threads} threads, sign path {SignDotPaths.Best}, median of {repeat}");
            WarmUp(model, position);
            SignKernel(o, repeat);
            if (Environment.GetEnvironmentVariable("SAGEPTQ_PROFILE_SWEEP") == "1")
            {
                StreamSweep(model, pool, o, repeat, 4);
                StreamSweep(model, pool, o, repeat, 6);
            }
            var decoder = Linears(model, pool, o, repeat);
            Ceiling(decoder, pool, bandwidthBytes, o);
            Elementwise(model, o, repeat);
            var empty = new NoWork();
            double barrier = Median(repeat * 100, () => pool.For(model.Threads * 4, 1, empty));
            o.WriteLine($"  empty pool loop             {barrier * 1e6,9:F2} µs");
            DecodeSteps(model, position, repeat, o);
            double token = Median(repeat * 20, () => model.Forward(model.Config.BosTokenId, position));
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            model.Forward(model.Config.BosTokenId, position);
            allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            o.WriteLine($"  managed bytes allocated by a decode token (calling thread) {allocated,9:N0}");
            o.WriteLine($"  decode token                {token * 1e3,9:F2} ms  ({1 / token:F2} tok/s, {model.WeightBytesPerToken / token / 1e9:F2} GB/s of weights)");
            if (context is int positions) LongAttention(model, positions, repeat, o);
        }
        finally
        {
            pool.Dispose();
        }
    }

    /// <summary>
    /// Attention alone over <paramref name="positions"/> cached positions (zeros: the values do not change the
    /// work), every layer once per repetition so that the cache streams from memory as in a decode token.
    /// </summary>
    private static void LongAttention(CpuModel model, int positions, int repeat, TextWriter o)
    {
        var config = model.Config;
        model.FillCacheForBenchmark(positions);
        double token = Median(repeat * 5, () =>
        {
            for (int layer = 0; layer < config.NumLayers; layer++) model.StepForBenchmark(layer, positions - 1).Step.Attention();
        });
        double cacheBytes = 2.0 * config.NumLayers * config.NumKeyValueHeads * positions * config.HeadDim * sizeof(ushort);
        o.WriteLine($"  attention over {positions:N0} cached positions, all layers {token * 1e3,9:F2} ms  ({cacheBytes / token / 1e9:F2} GB/s of the FP16 cache)");
    }

    /// <summary>
    /// Decodes for a while before anything is timed: tiered compilation swaps in the optimized code of the hot
    /// methods only after they have run many times, and a profile of the first, quick code misleads (it made
    /// Prepare look ten times dearer than it is).
    /// </summary>
    private static void WarmUp(CpuModel model, int position)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < WarmUpSeconds) model.Forward(model.Config.BosTokenId, position);
    }

    private const double WarmUpSeconds = 2;

    /// <summary>
    /// One decode token split into its steps, each timed on its own over every layer (the median of the
    /// layers' times, summed over layers), then what the token costs beyond its layers (embedding, final norm,
    /// LM head, logits copy).
    /// </summary>
    private static void DecodeSteps(CpuModel model, int position, int repeat, TextWriter o)
    {
        model.Forward(model.Config.BosTokenId, position);
        int layers = model.Config.NumLayers;
        (string Name, Action<CpuLayerStep, LayerPlan> Run)[] steps =
        [
            ("attention norm", (s, p) => s.AttentionNorm()),
            ("q, k, v", (s, p) => s.QueryKeyValue(p.Query, p.Key, p.Value)),
            ("rotary and cache", (s, p) => s.RotaryAndCache()),
            ("attention", (s, p) => s.Attention()),
            ("o and residual", (s, p) => s.OutputAndResidual(p.Output)),
            ("mlp norm", (s, p) => s.MlpNorm()),
            ("gate, up", (s, p) => s.GateUp(p.Gate, p.Up)),
            ("swiglu", (s, p) => s.SwiGlu()),
            ("down and residual", (s, p) => s.DownAndResidual(p.Down)),
        ];
        double layersTotal = 0;
        var line = new System.Text.StringBuilder("  decode token by step (µs per token, all layers):");
        foreach (var (name, run) in steps)
        {
            double perToken = PerLayer(Enumerable.Range(0, layers).ToArray(), repeat * 20, layer =>
            {
                var (step, plan) = model.StepForBenchmark(layer, position);
                run(step, plan);
            }) * layers;
            layersTotal += perToken;
            line.Append($" {name} {perToken * 1e6:F1};");
        }
        o.WriteLine(line.ToString());
        double token = Median(repeat * 20, () => model.Forward(model.Config.BosTokenId, position));
        o.WriteLine($"  decode token {token * 1e6:F1} µs = layers' steps {layersTotal * 1e6:F1} µs + the rest (embedding, final norm, LM head, logits) {(token - layersTotal) * 1e6:F1} µs");
    }

    /// <summary>
    /// The sign kernels alone, one thread, side by side on the same 16 rows: the plane kernel (<see cref="SignDot"/>,
    /// rows one after another) and the table kernel (<see cref="SignLut"/>, the rows tiled, its tables built once per
    /// token and not timed here), one tile alone and two at once, at 4,096 columns (8 KB of signs a tile, 32 KB of
    /// tables) and 11,008 (22 KB, 86 KB).
    /// </summary>
    private static void SignKernel(TextWriter o, int repeat)
    {
        double hertz = CoreClock(repeat);
        o.WriteLine($"  core clock {hertz / 1e9:F2} GHz (a chain of dependent adds, one a cycle)");
        foreach (int blocks in new[] { 16, 43 })
        {
            int rowBytes = blocks * SignDot.BlockBytes, bytes = SignLut.TileRows * rowBytes;
            byte* signs = (byte*)NativeMemory.AlignedAlloc((nuint)(2 * bytes), 64); // two tiles, for the pair kernel
            byte* tables = (byte*)NativeMemory.AlignedAlloc((nuint)(blocks * SignLut.TableBytes), 64);
            sbyte* q = (sbyte*)NativeMemory.AlignedAlloc((nuint)(blocks * SignDot.BlockWeights), 64);
            float* d = (float*)NativeMemory.AlignedAlloc((nuint)(blocks * 4), 64);
            float* result = (float*)NativeMemory.AlignedAlloc(32 * 4, 64);
            var random = new Random(1);
            for (int i = 0; i < 2 * bytes; i++) signs[i] = (byte)random.Next();
            for (int i = 0; i < blocks * SignDot.BlockWeights; i++) q[i] = (sbyte)random.Next(-127, 128);
            for (int i = 0; i < blocks; i++) d[i] = 0.01f;
            int calls = Math.Max(1, 2048 / blocks);
            var path = SignDotPaths.Best;
            double plane = Median(repeat * 10, () =>
            {
                for (int c = 0; c < calls; c++)
                    for (int r = 0; r < SignLut.TileRows; r += 4)
                    {
                        byte* s = signs + r * rowBytes;
                        SignDot.Dot4(path, s, s + rowBytes, s + 2 * rowBytes, s + 3 * rowBytes, q, d, blocks, result);
                    }
            });
            string line = $"  sign kernel, {blocks * SignDot.BlockWeights} columns × 16 rows, 1 thread: planes {Rate(plane)}";
            if (SignLut.IsSupported)
            {
                SignLut.BuildTables(q, blocks, tables);
                double table = Median(repeat * 10, () =>
                {
                    for (int c = 0; c < calls; c++) SignLut.Dot16(signs, tables, d, blocks, result);
                });
                double pair = Median(repeat * 10, () =>
                {
                    for (int c = 0; c < calls; c++) SignLut.Dot32(signs, bytes, tables, d, blocks, result);
                });
                line += $", tables {Rate(table)}: {plane / table:F2}x; two tiles at once {Rate(pair / 2)}";
            }
            o.WriteLine(line);
            NativeMemory.AlignedFree(signs);
            NativeMemory.AlignedFree(tables);
            NativeMemory.AlignedFree(q);
            NativeMemory.AlignedFree(d);
            NativeMemory.AlignedFree(result);

            string Rate(double seconds) =>
                $"{(double)calls * bytes / seconds / 1e9:F2} GB/s of signs ({seconds * hertz / ((double)calls * bytes * 8 / 32):F2} cycles per 32 weights·row)";
        }
    }

    /// <summary>
    /// The clock the core runs at now, which turbo and the host set, not the nominal one (a machine here sold as
    /// 2.45 GHz ran at 3.3–3.5): the time of a chain of dependent integer adds, each waiting one cycle for the last.
    /// </summary>
    private static double CoreClock(int repeat)
    {
        const int Iterations = 20_000_000;
        long sink = 0;
        double seconds = Median(repeat * 3, () =>
        {
            long x = sink;
            for (int i = 0; i < Iterations; i++)
            {
                // Four adds on x per iteration, each needing the one before: four cycles, whatever the loop costs beside.
                x += i; x ^= 0x55; x += 3; x ^= 0x33;
            }
            sink = x;
        });
        GC.KeepAlive(sink);
        return 4.0 * Iterations / seconds;
    }

    /// <summary>
    /// Every decoder part: Prepare alone; Multiply on one layer (cache) and across all layers (memory). Returns the
    /// decoder linears' token totals (prepare and multiply on the pool, in cache and from memory) and their weight bytes.
    /// </summary>
    private static DecoderProducts Linears(CpuModel model, WorkerPool pool, TextWriter o, int repeat)
    {
        var all = model.Linears;
        int layers = model.Config.NumLayers;
        // CpuModel opens the embedding, the LM head, then seven linears per layer.
        var lmHead = all[1];
        string[] parts = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
        var product = new Product();
        double totalStream = 0, totalHot = 0, decoderBytes = 0;
        for (int p = 0; p < parts.Length; p++)
        {
            var perLayer = Enumerable.Range(0, layers).Select(l => all[2 + 7 * l + p]).ToArray();
            var first = perLayer[0];
            var input = new float[first.Cols];
            for (int i = 0; i < input.Length; i++) input[i] = (float)Math.Sin(i * 0.37 + p);
            var output = new float[first.Rows];
            double prepare = Median(repeat * 10, () => first.Prepare(input, 1));
            foreach (var l in perLayer) l.Prepare(input, 1);
            double hotOne = Median(repeat * 5, () => first.Multiply(output, 0, first.Rows));
            double hot = Median(repeat * 5, () => product.Run(pool, first, output));
            double streamOne = PerLayer(perLayer, repeat, l => l.Multiply(output, 0, l.Rows));
            double stream = PerLayer(perLayer, repeat, l => product.Run(pool, l, output));
            totalStream += (stream + prepare) * layers;
            totalHot += (hot + prepare) * layers;
            double bytes = first.WeightBytes;
            decoderBytes += bytes * layers;
            o.WriteLine($"  {parts[p],-9} {first.Rows,5}x{first.Cols,-5} {first.GetType().Name}: prepare {prepare * 1e6,7:F1} µs; multiply 1 thread in cache {hotOne * 1e6,7:F1} µs ({bytes / hotOne / 1e9,5:F2} GB/s), pool in cache {hot * 1e6,7:F1} µs ({bytes / hot / 1e9,5:F2} GB/s), 1 thread from memory {streamOne * 1e6,7:F1} µs ({bytes / streamOne / 1e9,5:F2} GB/s), pool from memory {stream * 1e6,7:F1} µs ({bytes / stream / 1e9,5:F2} GB/s)");
        }
        var decoder = new DecoderProducts(totalHot, totalStream, decoderBytes);
        {
            var input = new float[lmHead.Cols];
            for (int i = 0; i < input.Length; i++) input[i] = (float)Math.Cos(i * 0.11);
            var output = new float[lmHead.Rows];
            double prepare = Median(repeat * 10, () => lmHead.Prepare(input, 1));
            double head = Median(repeat, () => product.Run(pool, lmHead, output));
            // One thread, slices of up to 1,000 rows timed one by one (median): robust on a shared machine.
            int sliceRows = Math.Min(1000, lmHead.Rows);
            var slices = Enumerable.Range(0, lmHead.Rows / sliceRows).ToArray();
            double slice = PerLayer(slices, repeat, i => lmHead.Multiply(output, i * sliceRows, i * sliceRows + sliceRows));
            double hotSlice = Median(repeat * 5, () => lmHead.Multiply(output, 0, sliceRows));
            double sliceBytes = (double)lmHead.WeightBytes * sliceRows / lmHead.Rows;
            o.WriteLine($"  lm_head 1 thread, {sliceRows}-row slices: in cache {sliceBytes / hotSlice / 1e9,5:F2} GB/s, from memory {sliceBytes / slice / 1e9,5:F2} GB/s");
            totalStream += prepare + head;
            o.WriteLine($"  lm_head   {lmHead.Rows,5}x{lmHead.Cols,-5} {lmHead.GetType().Name}: prepare {prepare * 1e6,7:F1} µs; multiply pool {head * 1e6,7:F1} µs ({lmHead.WeightBytes / head / 1e9,5:F2} GB/s)");
        }
        o.WriteLine($"  all linears of a token, from memory (sum of the above) {totalStream * 1e3,7:F2} ms");
        return decoder;
    }

    /// <summary>The decoder linears of one token (every layer, prepare and multiply on the pool): seconds in cache and from memory, and their weight bytes.</summary>
    private readonly record struct DecoderProducts(double InCache, double FromMemory, double Bytes);

    /// <summary>
    /// The decoder's products against the machine's streaming read, measured here: with their weights in cache they
    /// run as fast as the arithmetic allows, so their rate over the streaming read is the highest share of it a decode
    /// token can reach on this machine, whatever the memory does.
    /// </summary>
    private static void Ceiling(DecoderProducts decoder, WorkerPool pool, long bandwidthBytes, TextWriter o)
    {
        using var stream = new StreamingRead(bandwidthBytes);
        double bandwidth = stream.Measure(pool);
        double hot = decoder.Bytes / decoder.InCache, cold = decoder.Bytes / decoder.FromMemory;
        o.WriteLine($"  decoder linears of a token, in cache {decoder.InCache * 1e3:F2} ms ({hot / 1e9:F2} GB/s of their weights), from memory {decoder.FromMemory * 1e3:F2} ms ({cold / 1e9:F2} GB/s); streaming read {bandwidth / 1e9:F2} GB/s: in cache {hot / bandwidth:P0} of it, from memory {cold / bandwidth:P0}");
    }

    /// <summary>The element-wise kernels of a layer on one thread, one token: RMSNorm and SwiGLU (the decode step runs SwiGLU on the pool).</summary>
    private static void Elementwise(CpuModel model, TextWriter o, int repeat)
    {
        var c = model.Config;
        var x = new float[c.HiddenSize];
        var weight = new float[c.HiddenSize];
        var y = new float[c.HiddenSize];
        var gate = new float[c.IntermediateSize];
        var up = new float[c.IntermediateSize];
        for (int i = 0; i < x.Length; i++) (x[i], weight[i]) = ((float)Math.Sin(i), 1 + 0.001f * i);
        for (int i = 0; i < gate.Length; i++) (gate[i], up[i]) = ((float)Math.Cos(i), (float)Math.Sin(0.5 * i));
        double norm = Median(repeat * 20, () => SagePtq.Runtime.Reference.FastOps.RmsNorm(x, weight, c.RmsNormEps, y));
        double swiglu = Median(repeat * 20, () =>
        {
            Array.Copy(up, gate, gate.Length);
            SagePtq.Runtime.Reference.FastOps.SwiGlu(gate, up);
        });
        o.WriteLine($"  rmsnorm {c.HiddenSize} {norm * 1e6,7:F2} µs, swiglu {c.IntermediateSize} (with a copy) {swiglu * 1e6,7:F2} µs, one thread: a token's {2 * c.NumLayers + 1} norms and {c.NumLayers} swiglus {((2 * c.NumLayers + 1) * norm + c.NumLayers * swiglu) * 1e3:F2} ms");
    }

    /// <summary>
    /// Each layer's product timed on its own, the median over layers and repetitions: on a shared machine a
    /// whole sweep's time would mostly measure when the scheduler took the core away.
    /// </summary>
    private static double PerLayer<T>(T[] items, int repeat, Action<T> run)
    {
        var times = new List<double>();
        for (int r = 0; r < repeat; r++)
            foreach (var item in items)
            {
                long start = Stopwatch.GetTimestamp();
                run(item);
                times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        times.Sort();
        return times[times.Count / 2];
    }

    private static double Median(int count, Action action)
    {
        action();
        var times = new double[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return times[count / 2];
    }

    private sealed class NoWork : IRangeWork
    {
        public void Run(int start, int end)
        {
        }
    }

    /// <summary>One prepared linear's Multiply over all rows on the pool.</summary>
    private sealed class Product : IRangeWork
    {
        private CpuLinear? _linear;
        private float[] _output = [];

        public void Run(WorkerPool pool, CpuLinear linear, float[] output)
        {
            (_linear, _output) = (linear, output);
            pool.For(linear.Rows, linear.RowGranularity, this);
        }

        public void Run(int start, int end) => _linear!.Multiply(_output, start, end);
    }
}
