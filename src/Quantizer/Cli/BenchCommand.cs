using System.CommandLine;
using System.Diagnostics;
using SagePtq.Quantizer.Bench;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// <c>sageptq bench</c>: speed of a pack on the CPU kernels, with its yardsticks measured in the same run and
/// interleaved with it (the machine may be shared and noisy): the FP32 reference forward pass on the same
/// pack, and the machine's plain streaming-read bandwidth. Every figure is the median of the repetitions.
/// </summary>
internal static class BenchCommand
{
    /// <summary>How long the model runs untimed before the measured repetitions.</summary>
    private const double WarmUpSeconds = 3;

    public static Command Create(CliContext context)
    {
        var pack = new Option<string>("--pack") { Description = "A pack folder (model.sagepack + model.manifest.json).", Required = true };
        var backend = new Option<string>("--backend") { Description = "Backend to measure.", DefaultValueFactory = _ => "cpu" }.AcceptOnlyFromAmong("cpu");
        var threads = new Option<int>("--threads") { Description = "Threads of the cpu backend and of the bandwidth reader (default: every core)." }.WithRange(0, 1024);
        var promptTokens = new Option<int>("--prompt") { Description = "Prompt tokens run in one batch (llama-bench pp).", DefaultValueFactory = _ => 64 }.WithRange(1, 1 << 16);
        var decodeTokens = new Option<int>("--tokens") { Description = "Tokens generated one at a time after the prompt (llama-bench tg).", DefaultValueFactory = _ => 128 }.WithRange(1, 1 << 16);
        var contextLength = new Option<int?>("--context") { Description = "Also time decoding after N cached positions (filled with zeros, no prompt run) and report resident memory there." };
        contextLength.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is <= 0) r.AddError("--context must be positive."); });
        var repeat = new Option<int>("--repeat") { Description = "Repetitions; medians are reported.", DefaultValueFactory = _ => 3 }.WithRange(1, 100);
        var noReference = new Option<bool>("--no-reference") { Description = "Skip the FP32 reference forward pass." };
        var bandwidthMib = new Option<int>("--bandwidth-mib") { Description = "Buffer of the streaming-read measurement, MiB (far above the caches).", DefaultValueFactory = _ => 1024 }.WithRange(64, 1 << 16);
        var json = CliOptions.Json();

        var command = new Command("bench", "Prompt and decode speed of a pack on the CPU kernels, beside the FP32 reference and the machine's streaming-read bandwidth.")
        {
            pack, backend, threads, promptTokens, decodeTokens, contextLength, repeat, noReference, bandwidthMib, json,
        };
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(pack)!;
            int prompt = parse.GetValue(promptTokens), tokens = parse.GetValue(decodeTokens), reps = parse.GetValue(repeat);
            int? fill = parse.GetValue(contextLength);

            // One open pack serves the model, the manifest figures and the reference weights.
            using var packed = PackedModel.Open(dir);
            using var model = new CpuModel(packed, new CpuModelOptions { Threads = parse.GetValue(threads) });
            var config = model.Config;
            if (prompt + tokens > model.ContextLength)
                throw new UsageException($"--prompt {prompt} plus --tokens {tokens} is longer than the model's {model.ContextLength} positions.");
            if (fill + tokens > model.ContextLength)
                throw new UsageException($"--context {context} plus --tokens {tokens} is longer than the model's {model.ContextLength} positions.");
            var ids = DecodeTimer.Prompt(prompt, config.VocabSize, config.BosTokenId);
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
                contextDecode = Median(rates);
                contextResident = Process.GetCurrentProcess().WorkingSet64;
            }

            string? referenceSkipped = parse.GetValue(noReference) ? "--no-reference" : FitsInMemory(packed.Manifest);
            var reference = referenceSkipped is null ? new ReferenceModel(packed.ToLlamaWeights()) : null;
            using var pool = new WorkerPool(model.Threads);
            using var stream = new StreamingRead((long)parse.GetValue(bandwidthMib) << 20);

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
                    report(r + 1);
                }
                return 0;
            });

            double decode = Median(decodeRates), bandwidth = Median(bandwidths);
            double weightRate = decode * model.WeightBytesPerToken;
            double? referenceDecode = reference is null ? null : Median(referenceRates);
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
                promptTokensPerSecond = Median(promptRates),
                decodeTokensPerSecond = decode,
                weightBytesPerSecond = weightRate,
                referenceDecodeTokensPerSecond = referenceDecode,
                referenceSkipped,
                decodeSpeedupOverReference = referenceDecode is double rd ? decode / rd : (double?)null,
                streamingReadBytesPerSecond = bandwidth,
                fractionOfStreamingRead = weightRate / bandwidth,
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
            o.WriteLine($"  streaming read {bandwidth / 1e9:F2} GB/s: decode reads weights at {100 * weightRate / bandwidth:F0} % of it");
            if (fill is int c)
                o.WriteLine($"  at context {c}: decode {contextDecode:F1} tok/s, resident {contextResident / 1e9:F2} GB (pack {packBytes / 1e9:F2} GB)");
            return SagePtqCli.Success;
        });
        return command;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
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
