using System.CommandLine;
using System.Diagnostics;
using SagePtq.Quantizer.Bench;
using SagePtq.Runtime;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// <c>sageptq bench</c>: speed of a pack on the CPU kernels, with its yardsticks measured in the same run and
/// interleaved with it (the machine may be shared and noisy): the FP32 reference forward pass on the same
/// pack, and the machine's plain streaming-read bandwidth, with the round trip between two threads that says how far
/// apart the host put the cores (<see cref="ThreadRoundTrip"/>). Every figure is the median of the repetitions (a
/// repetition's streaming read is the best of its passes: <see cref="StreamingRead.Measure"/>).
/// </summary>
internal static class BenchCommand
{
    /// <summary>How long the model runs untimed before the measured repetitions.</summary>
    private const double WarmUpSeconds = 3;

    public static Command Create(CliContext context)
    {
        var pack = new Option<string>("--pack") { Description = "A pack folder (model.sagepack + model.manifest.json).", Required = true };
        var backend = new Option<string>("--backend") { Description = "Backend to measure.", DefaultValueFactory = _ => "cpu" }.AcceptOnlyFromAmong("cpu", "cuda");
        var threads = new Option<int>("--threads") { Description = "Threads of the cpu backend and of the bandwidth reader (default: every core)." }.WithRange(0, 1024);
        var promptTokens = new Option<int>("--prompt") { Description = "Prompt tokens run in one batch (llama-bench pp).", DefaultValueFactory = _ => 64 }.WithRange(1, 1 << 16);
        var decodeTokens = new Option<int>("--tokens") { Description = "Tokens generated one at a time after the prompt (llama-bench tg).", DefaultValueFactory = _ => 128 }.WithRange(1, 1 << 16);
        var contextLength = new Option<int?>("--context") { Description = "Also time decoding after N cached positions (filled with zeros, no prompt run) and report resident memory there." };
        contextLength.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is <= 0) r.AddError("--context must be positive."); });
        var repeat = new Option<int>("--repeat") { Description = "Repetitions; medians are reported.", DefaultValueFactory = _ => 3 }.WithRange(1, 100);
        var noReference = new Option<bool>("--no-reference") { Description = "Skip the FP32 reference forward pass." };
        var bandwidthMib = new Option<int>("--bandwidth-mib") { Description = "Buffer of the streaming-read measurement, MiB (far above the caches).", DefaultValueFactory = _ => 1024 }.WithRange(64, 1 << 16);
        var fp16Pack = new Option<string?>("--fp16-pack") { Description = "cuda: an FP16 pack of the same shape to decode beside it (default: the pack's own decoder linears as FP16 stand-ins)." };
        var rowsPerWarp = new Option<int[]>("--rows-per-warp")
        {
            Description = "cuda: rows a warp of the sage gemv takes at once, 1 to 8 (default 4). Several values (--rows-per-warp 2 4 8) decode side by side in the same run, each its own compiled model.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => [CudaSourceBuilder.DefaultSageRowsPerWarp],
        };
        rowsPerWarp.Validators.Add(r =>
        {
            var values = r.GetValueOrDefault<int[]>() ?? [];
            if (values.Length == 0 || values.Any(v => v is < 1 or > 8)) r.AddError("--rows-per-warp takes values from 1 to 8.");
            else if (values.Distinct().Count() != values.Length) r.AddError("--rows-per-warp lists a value twice.");
        });
        var profile = new Option<bool>("--profile") { Description = "cpu: time each part of a decode token on its own (sign kernel, every linear shape in cache and from memory, the decoder's products against the streaming read, prepare, LM head, pool loop; with --context, attention over that many cached positions) instead of the usual figures. cuda: time every launch of a decode step after the prompt, by part of the step, beside the graph replay of the same step." };
        var json = CliOptions.Json();

        var command = new Command("bench", "Prompt and decode speed of a pack on the CPU kernels (beside the FP32 reference and the machine's streaming-read bandwidth), or on CUDA (beside an FP16 decode of the same shape; exit 3 without a GPU).")
        {
            pack, backend, threads, promptTokens, decodeTokens, contextLength, repeat, noReference, bandwidthMib, fp16Pack, rowsPerWarp, profile, json,
        };
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(pack)!;
            int prompt = parse.GetValue(promptTokens), tokens = parse.GetValue(decodeTokens), reps = parse.GetValue(repeat);
            if (parse.GetValue(backend) == "cuda")
                return parse.GetValue(profile)
                    ? CudaBench.Profile(context, dir, prompt, reps, parse.GetValue(json))
                    : CudaBench.Run(context, dir, parse.GetValue(fp16Pack), parse.GetValue(rowsPerWarp)!, prompt, tokens, reps, parse.GetValue(json));
            int? fill = parse.GetValue(contextLength);
            long bandwidthBytes = (long)parse.GetValue(bandwidthMib) << 20;

            // One open pack serves the model, the manifest figures and the reference weights.
            using var packed = PackedModel.Open(dir);
            using var model = new CpuModel(packed, new CpuModelOptions { Threads = parse.GetValue(threads) });
            var config = model.Config;
            if (prompt + tokens > model.ContextLength)
                throw new UsageException($"--prompt {prompt} plus --tokens {tokens} is longer than the model's {model.ContextLength} positions.");
            if (fill + tokens > model.ContextLength)
                throw new UsageException($"--context {context} plus --tokens {tokens} is longer than the model's {model.ContextLength} positions.");
            var ids = DecodeTimer.Prompt(prompt, config.VocabSize, config.BosTokenId);
            if (parse.GetValue(profile))
            {
                DecodeTimer.Prefill(model, ids);
                DecodeTimer.Decode(model, prompt, tokens, ids[^1]);
                KernelProfile.Run(model, prompt, reps, context.Output, bandwidthBytes, fill);
                return SagePtqCli.Success;
            }
            long packBytes = new FileInfo(Path.Combine(dir, PackFormat.PackFileName)).Length;

            // Long context first, before the reference weights and the bandwidth buffer take memory of their own.
            double? contextDecode = null;
            long? contextResident = null;
            if (fill is int positions)
            {
                var rates = new List<double>();
                for (int r = 0; r < reps; r++)
                {
                    model.FillCacheForBenchmark(positions);
                    rates.Add(DecodeTimer.Decode(model, positions, tokens, config.BosTokenId));
                }
                contextDecode = Medians.Of(rates);
                contextResident = Process.GetCurrentProcess().WorkingSet64;
            }

            string? referenceSkipped = parse.GetValue(noReference) ? "--no-reference" : FitsInMemory(packed.Manifest);
            var reference = referenceSkipped is null ? new ReferenceModel(packed.ToLlamaWeights()) : null;
            using var pool = new WorkerPool(model.Threads);
            using var stream = new StreamingRead(bandwidthBytes);

            // Untimed rounds first: the page mappings, the caches and the JIT's optimized code (tiered
            // compilation replaces the first, quick code of hot methods only after they have run a while).
            var warmUp = Stopwatch.StartNew();
            do
            {
                DecodeTimer.Prefill(model, ids);
                for (int i = 0; i < tokens && warmUp.Elapsed.TotalSeconds < WarmUpSeconds; i += 8)
                    DecodeTimer.Decode(model, prompt + i, Math.Min(8, tokens - i), ids[^1]);
            }
            while (warmUp.Elapsed.TotalSeconds < WarmUpSeconds);
            if (reference is not null)
            {
                reference.Reset();
                reference.Prefill(ids);
                DecodeTimer.Decode(reference, prompt, Math.Min(tokens, 16), ids[^1]);
            }
            stream.Measure(pool);

            var promptRates = new List<double>();
            var decodeRates = new List<double>();
            var referenceRates = new List<double>();
            var bandwidths = new List<double>();
            var roundTrips = new List<double>();
            CliProgress.Run(context, "bench", reps, report =>
            {
                for (int r = 0; r < reps; r++)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    promptRates.Add(DecodeTimer.Prefill(model, ids));
                    decodeRates.Add(DecodeTimer.Decode(model, prompt, tokens, ids[^1]));
                    if (reference is not null)
                    {
                        reference.Reset();
                        reference.Prefill(ids);
                        referenceRates.Add(DecodeTimer.Decode(reference, prompt, tokens, ids[^1]));
                    }
                    bandwidths.Add(stream.Measure(pool));
                    if (model.Threads > 1 && ThreadRoundTrip.Measure() is double trip) roundTrips.Add(trip);
                    report(r + 1);
                }
                return 0;
            });

            double decode = Medians.Of(decodeRates), bandwidth = Medians.Of(bandwidths);
            double weightRate = decode * model.WeightBytesPerToken;
            double? referenceDecode = reference is null ? null : Medians.Of(referenceRates);
            var kernels = model.Linears.GroupBy(l => l.GetType().Name).ToDictionary(g => g.Key, g => g.Count());
            var result = new
            {
                pack = Path.GetFullPath(dir),
                method = packed.Manifest.Method,
                backend = "cpu",
                threads = model.Threads,
                kernels,
                packBytes,
                weightBytesPerToken = model.WeightBytesPerToken,
                promptTokens = prompt,
                decodeTokens = tokens,
                repetitions = reps,
                promptTokensPerSecond = Medians.Of(promptRates),
                decodeTokensPerSecond = decode,
                weightBytesPerSecond = weightRate,
                referenceDecodeTokensPerSecond = referenceDecode,
                referenceSkipped,
                decodeSpeedupOverReference = referenceDecode is double rd ? decode / rd : (double?)null,
                streamingReadBytesPerSecond = bandwidth,
                fractionOfStreamingRead = weightRate / bandwidth,
                threadRoundTripNanoseconds = roundTrips.Count > 0 ? Medians.Of(roundTrips) : (double?)null,
                context = fill,
                contextDecodeTokensPerSecond = contextDecode,
                residentBytesAtContext = contextResident,
            };
            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(context.Output, result);
                return SagePtqCli.Success;
            }
            var o = context.Output;
            o.WriteLine($"{result.method} pack, {packBytes / 1e6:F2} MB, cpu backend, {model.Threads} threads ({string.Join(", ", kernels.Select(k => $"{k.Value} {k.Key}"))})");
            o.WriteLine($"  prompt    {result.promptTokensPerSecond,10:F1} tok/s   (pp{prompt})");
            o.WriteLine($"  decode    {decode,10:F1} tok/s   (tg{tokens}), {weightRate / 1e9:F2} GB/s of weights ({model.WeightBytesPerToken / 1e6:F2} MB a token)");
            o.WriteLine(referenceDecode is double r1
                ? $"  reference {r1,10:F1} tok/s   FP32 forward pass on the same pack: decode is {decode / r1:F1}x"
                : $"  reference skipped: {referenceSkipped}");
            o.WriteLine($"  streaming read {bandwidth / 1e9:F2} GB/s: decode reads weights at {100 * weightRate / bandwidth:F0} % of it"
                + (result.threadRoundTripNanoseconds is double trip ? $" (a round trip between two threads: {trip:F0} ns)" : ""));
            if (fill is int c)
                o.WriteLine($"  at context {c}: decode {contextDecode:F1} tok/s, resident {contextResident / 1e9:F2} GB (pack {packBytes / 1e9:F2} GB)");
            return SagePtqCli.Success;
        });
        return command;
    }

    /// <summary>Null when the FP32 reference weights fit comfortably in memory, else why the reference is skipped.</summary>
    private static string? FitsInMemory(PackManifest m)
    {
        long weights = m.Linears.Sum(l => l.WeightCount) + m.Tensors.Where(t => t.DataType != PackDataType.Bytes).Sum(t => t.ElementCount);
        long fp32 = 4 * weights;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return fp32 <= available / 3 ? null : $"its FP32 weights need {fp32 / 1e9:F1} GB, more than a third of the {available / 1e9:F1} GB available";
    }
}

/// <summary>
/// <c>sageptq bench --backend cuda</c>: decode speed of a pack on the GPU and the weight bandwidth it achieves,
/// beside an FP16 decode of the same shape through the same code path, measured in the same run (interleaved
/// repetitions, medians): either <c>--fp16-pack</c> or the pack's own decoder linears replaced by FP16 stand-ins.
/// </summary>
internal static class CudaBench
{
    public static int Run(CliContext context, string dir, string? fp16Dir, int[] rowsPerWarp, int prompt, int tokens, int reps, bool json)
    {
        if (!Available(context)) return CudaCheckCommand.NoCudaDevice;
        using var packed = PackedModel.Open(dir, new PackReadOptions { VerifyPayloadChecksum = false });
        using var fp16Packed = fp16Dir is null ? null : PackedModel.Open(fp16Dir, new PackReadOptions { VerifyPayloadChecksum = false });
        int context0 = prompt + tokens;
        if (context0 > packed.Manifest.Architecture.MaxPositionEmbeddings)
            throw new UsageException($"--prompt {prompt} plus --tokens {tokens} is longer than the model's {packed.Manifest.Architecture.MaxPositionEmbeddings} positions.");
        // One model per --rows-per-warp value (the first is the headline figure), and the FP16 run they are set against.
        var variants = new List<CudaModel>();
        try
        {
            foreach (int rows in rowsPerWarp)
                variants.Add(new CudaModel(packed, new() { ContextLength = context0, Log = context.Error, SageRowsPerWarp = rows }));
            using var fp16 = new CudaModel(fp16Packed ?? packed,
                new() { ContextLength = context0, Log = context.Error, SyntheticFp16Weights = fp16Packed is null });
            return Measure(context, dir, fp16Dir, packed, variants, rowsPerWarp, fp16, prompt, tokens, reps, json);
        }
        finally
        {
            foreach (var variant in variants) variant.Dispose();
        }
    }

    /// <summary>Run's measurement and report: <paramref name="variants"/> (one per <paramref name="rowsPerWarp"/> value) and <paramref name="fp16"/>, interleaved.</summary>
    private static int Measure(CliContext context, string dir, string? fp16Dir, PackedModel packed, List<CudaModel> variants,
        int[] rowsPerWarp, CudaModel fp16, int prompt, int tokens, int reps, bool json)
    {
        var model = variants[0];
        var config = model.Config;
        if (fp16.Config.HiddenSize != config.HiddenSize || fp16.Config.NumLayers != config.NumLayers || fp16.Config.IntermediateSize != config.IntermediateSize)
            throw new UsageException("--fp16-pack has another architecture than --pack: the ratio would compare different models.");
        var ids = DecodeTimer.Prompt(prompt, config.VocabSize, config.BosTokenId);

        // Untimed round first: the kernels' first launches, graph capture, page-in of the embedding rows.
        var all = variants.Append(fp16).ToArray();
        foreach (var m in all)
        {
            m.Reset();
            m.Prefill(ids);
            DecodeTimer.Decode(m, prompt, Math.Min(tokens, 16), ids[^1]);
        }
        var rates = all.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < reps; r++)
            for (int i = 0; i < all.Length; i++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                all[i].Reset();
                all[i].Prefill(ids);
                rates[i].Add(DecodeTimer.Decode(all[i], prompt, tokens, ids[^1]));
            }
        double fp16Decode = Medians.Of(rates[^1]);
        var measured = rowsPerWarp.Select((rows, i) => (Rows: rows, Decode: Medians.Of(rates[i]))).ToArray();
        double decode = measured[0].Decode;
        var result = new
        {
            pack = Path.GetFullPath(dir),
            method = packed.Manifest.Method,
            backend = "cuda",
            device = model.Device,
            launchesPerToken = model.LaunchesPerToken,
            weightBytesPerToken = model.WeightBytesPerToken,
            promptTokens = prompt,
            decodeTokens = tokens,
            repetitions = reps,
            sageRowsPerWarp = measured[0].Rows,
            decodeTokensPerSecond = decode,
            weightBytesPerSecond = decode * model.WeightBytesPerToken,
            fp16 = fp16Dir is null ? "the pack's decoder linears as FP16 stand-ins" : Path.GetFullPath(fp16Dir),
            fp16WeightBytesPerToken = fp16.WeightBytesPerToken,
            fp16DecodeTokensPerSecond = fp16Decode,
            fp16WeightBytesPerSecond = fp16Decode * fp16.WeightBytesPerToken,
            speedupOverFp16 = decode / fp16Decode,
            rowsPerWarp = measured.Select(m => new
            {
                sageRowsPerWarp = m.Rows, decodeTokensPerSecond = m.Decode, weightBytesPerSecond = m.Decode * model.WeightBytesPerToken,
                speedupOverFp16 = m.Decode / fp16Decode,
            }),
        };
        if (json)
        {
            CliOptions.WriteJson(context.Output, result);
            return SagePtqCli.Success;
        }
        var o = context.Output;
        o.WriteLine($"{result.method} pack on {result.device}, cuda backend, {result.launchesPerToken} launches a token (one graph replay)");
        foreach (var (rows, rate) in measured)
            o.WriteLine($"  decode {rate,10:F1} tok/s   (tg{tokens} after pp{prompt}), {rate * model.WeightBytesPerToken / 1e12:F3} TB/s of weights ({model.WeightBytesPerToken / 1e6:F1} MB a token), {rows} rows a warp, {rate / fp16Decode:F2}x FP16");
        o.WriteLine($"  fp16   {fp16Decode,10:F1} tok/s   {result.fp16WeightBytesPerSecond / 1e12:F3} TB/s ({fp16.WeightBytesPerToken / 1e6:F1} MB a token; {result.fp16})");
        o.WriteLine($"  speed-up over FP16: {result.speedupOverFp16:F2}x");
        return SagePtqCli.Success;
    }

    /// <summary>
    /// <c>bench --backend cuda --profile</c>: after a prompt of <paramref name="prompt"/> tokens, every launch of the
    /// next decode step timed on its own (<see cref="CudaModel.ProfileStep"/>), summed by
    /// part of the step, beside the graph replay of the same step.
    /// </summary>
    public static int Profile(CliContext context, string dir, int prompt, int reps, bool json)
    {
        if (!Available(context)) return CudaCheckCommand.NoCudaDevice;
        using var packed = PackedModel.Open(dir, new PackReadOptions { VerifyPayloadChecksum = false });
        if (prompt + 1 > packed.Manifest.Architecture.MaxPositionEmbeddings)
            throw new UsageException($"--prompt {prompt} leaves no position to profile in the model's {packed.Manifest.Architecture.MaxPositionEmbeddings}.");
        using var model = new CudaModel(packed, new() { ContextLength = prompt + 1, Log = context.Error });
        model.Prefill(DecodeTimer.Prompt(prompt, model.Config.VocabSize, model.Config.BosTokenId));   // also captures the graph
        var profile = model.ProfileStep(prompt, reps);
        if (json)
        {
            CliOptions.WriteJson(context.Output, new
            {
                pack = Path.GetFullPath(dir),
                backend = "cuda",
                device = model.Device,
                position = profile.Position,
                repetitions = reps,
                parts = profile.Parts.Select(p => new { name = p.Name, launches = p.Launches, microseconds = p.Microseconds }),
                launchesMicroseconds = profile.LaunchesMicroseconds,
                graphMicroseconds = profile.GraphMicroseconds,
            });
            return SagePtqCli.Success;
        }
        var o = context.Output;
        o.WriteLine($"{packed.Manifest.Method} pack on {model.Device}: one decode step at position {profile.Position}, each launch timed on its own (median of {reps})");
        o.WriteLine($"  {"part",-28} {"launches",8} {"µs",10} {"share",7}");
        foreach (var p in profile.Parts)
            o.WriteLine($"  {p.Name,-28} {p.Launches,8} {p.Microseconds,10:F1} {p.Microseconds / profile.LaunchesMicroseconds,7:P1}");
        o.WriteLine($"  {"every launch",-28} {profile.Parts.Sum(p => p.Launches),8} {profile.LaunchesMicroseconds,10:F1}");
        o.WriteLine($"  the step as one graph replay: {profile.GraphMicroseconds:F1} µs ({1e6 / profile.GraphMicroseconds:F0} tok/s without the host's copies)");
        return SagePtqCli.Success;
    }

    private static bool Available(CliContext context)
    {
        var probe = SagePtq.Runtime.Cuda.CudaAvailability.Probe;
        if (probe.IsAvailable) return true;
        context.Error.WriteLine($"CUDA backend unavailable: {probe.Reason}");
        context.Error.WriteLine("bench --backend cuda needs a machine with an NVIDIA GPU, its driver and NVRTC; nothing was measured.");
        return false;
    }
}
