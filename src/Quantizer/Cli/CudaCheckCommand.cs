using System.CommandLine;
using System.Text;
using SagePtq.Runtime;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Cuda;
using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// <c>sageptq cuda-check</c>: the checks of the CUDA backend for a machine with a GPU. The binding's self-test;
/// then for each pack: every linear's kernels (prepare + gemv, with the pack's own template constants) on a
/// seeded random input against the CPU kernel of the same pack; the greedy tokens of the three golden prompts
/// on CUDA against the CPU backend; and, with <c>--text</c>, perplexity within 0.5 % of the CPU figure.
/// Prints one table; exits 0 when every row passes, 1 when any fails, and <see cref="NoCudaDevice"/> (3)
/// with the reason when this machine has no usable CUDA device.
/// </summary>
internal static class CudaCheckCommand
{
    /// <summary>The exit code when no usable CUDA device is present (the checks could not run at all).</summary>
    public const int NoCudaDevice = 3;

    /// <summary>The golden prompts (shared/reference/goldens-sagelm-7m.json), tokenized with each pack's own tokenizer.</summary>
    internal static readonly string[] Prompts =
        ["The President said that", "In the beginning of the year, the committee", "Fellow citizens of the Senate and House of Representatives:"];

    /// <summary>Largest relative difference (max |gpu − cpu| / max |cpu|) of a linear whose CPU kernel reads the same int8 activation.</summary>
    private const double SameActivationTolerance = 1e-3;

    /// <summary>The same for a linear the CPU runs decoded with float activations (the GPU's int8 rounding then shows).</summary>
    private const double DecodedTolerance = 3e-2;

    /// <summary>Failing linears listed one per row (the summary row counts them all).</summary>
    private const int ListedKernelFailures = 8;

    /// <summary>Allowed relative perplexity difference.</summary>
    private const double PerplexityTolerance = 0.005;

    public static Command Create(CliContext context)
    {
        var packs = new Option<string[]>("--pack") { Description = "A pack folder to check (repeatable).", AllowMultipleArgumentsPerToken = false };
        var tokens = new Option<int>("--tokens") { Description = "Greedy tokens generated per prompt.", DefaultValueFactory = _ => 24 }.WithRange(1, 4096);
        var text = new Option<string?>("--text") { Description = "UTF-8 text for the perplexity comparison (documents separated by a blank line)." };
        var maxWindows = new Option<int>("--max-windows") { Description = "Windows of the perplexity comparison.", DefaultValueFactory = _ => 4 }.WithRange(1, 1 << 20);
        var seq = new Option<int>("--seq") { Description = "Tokens per perplexity window.", DefaultValueFactory = _ => 256 }.WithRange(2, 1 << 20);
        var json = CliOptions.Json();
        var command = new Command("cuda-check",
            "Checks the CUDA backend on this machine's GPU: self-test, every linear's kernels against the CPU kernels, greedy tokens and perplexity against the CPU backend. Exit 0 all pass, 1 a failure, 3 no usable CUDA device.")
        {
            packs, tokens, text, maxWindows, seq, json,
        };
        command.SetAction(parse =>
        {
            var probe = CudaAvailability.Probe;
            if (!probe.IsAvailable)
            {
                context.Error.WriteLine($"CUDA backend unavailable: {probe.Reason}");
                context.Error.WriteLine("cuda-check needs a machine with an NVIDIA GPU, its driver and NVRTC; nothing was checked.");
                return NoCudaDevice;
            }
            var rows = new List<CheckRow>();
            var log = new StringWriter();
            bool selfTest = CudaSelfTest.Run(log);
            rows.Add(new CheckRow("binding", "CudaSelfTest (NVRTC, cache, launch, graph)", selfTest, selfTest ? "pass" : LastLine(log.ToString())));
            foreach (var dir in parse.GetValue(packs) ?? [])
            {
                context.Cancellation.ThrowIfCancellationRequested();
                CheckPack(dir, parse.GetValue(tokens), parse.GetValue(text), parse.GetValue(seq), parse.GetValue(maxWindows), rows, context);
            }
            bool passed = rows.All(r => r.Passed);
            if (parse.GetValue(json))
                CliOptions.WriteJson(context.Output, new { device = probe.Reason, passed, checks = rows });
            else
            {
                var o = context.Output;
                o.WriteLine($"device: {probe.Reason}");
                int width = Math.Max(20, rows.Max(r => r.Subject.Length));
                foreach (var r in rows)
                    o.WriteLine($"{(r.Passed ? "PASS" : "FAIL")}  {r.Area,-10} {r.Subject.PadRight(width)}  {r.Detail}");
                o.WriteLine(passed ? $"all {rows.Count} checks passed" : $"{rows.Count(r => !r.Passed)} of {rows.Count} checks FAILED");
                if (!selfTest) o.Write(log.ToString());
            }
            return passed ? SagePtqCli.Success : 1;
        });
        return command;
    }

    /// <summary>One line of the result table.</summary>
    internal sealed record CheckRow(string Area, string Subject, bool Passed, string Detail);

    private static void CheckPack(string dir, int greedyTokens, string? textPath, int window, int maxWindows, List<CheckRow> rows, CliContext context)
    {
        string label = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        using var pack = PackedModel.Open(dir);
        using var cpu = new CpuModel(pack);
        CudaModel gpu;
        try { gpu = new CudaModel(pack, new CudaModelOptions { Log = context.Error }); }
        catch (Exception e) when (e is CudaUnavailableException or CudaException or CudaCompileException)
        {
            rows.Add(new CheckRow(label, "open on CUDA", false, e.Message));
            return;
        }
        using (gpu)
        {
            try { CheckOnGpu(pack, cpu, gpu, dir, label, greedyTokens, textPath, window, maxWindows, rows, context); }
            catch (Exception e) when (e is CudaException or CudaCompileException)
            {
                rows.Add(new CheckRow(label, "run on CUDA", false, e.Message));
            }
        }
    }

    private static void CheckOnGpu(PackedModel pack, CpuModel cpu, CudaModel gpu, string dir, string label, int greedyTokens, string? textPath,
        int window, int maxWindows, List<CheckRow> rows, CliContext context)
    {
        rows.Add(new CheckRow(label, "open on CUDA", true, $"{gpu.Device}, {gpu.LaunchesPerToken} launches a token, {gpu.WeightBytesPerToken / 1e6:F2} MB of weights"));
        CheckLinears(pack, gpu, label, rows);
        var tokenizer = Tokenizer.Parse(Encoding.UTF8.GetString(pack.ReadTokenizerJson()), Path.Combine(dir, PackFormat.ManifestFileName));
        foreach (var prompt in Prompts)
        {
            var ids = tokenizer.Encode(prompt, addBos: true);
            var options = GenerationOptions.Greedy with { MaxTokens = greedyTokens, StopAtEos = false };
            var expected = TokenGenerator.Generate(cpu, ids, options).ToArray();
            var actual = TokenGenerator.Generate(gpu, ids, options).ToArray();
            int first = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i], -1);
            bool same = expected.SequenceEqual(actual);
            rows.Add(new CheckRow(label, $"greedy \"{prompt}\"", same,
                same ? $"{actual.Length} tokens equal the CPU's" : $"differs from token {first}: cuda {string.Join(' ', actual)} / cpu {string.Join(' ', expected)}"));
        }
        if (textPath is not null)
        {
            int[] stream = EvaluationText.TokenizeDocuments(tokenizer, CliOptions.ReadText(textPath));
            int length = Math.Min(window, Math.Min(gpu.ContextLength, pack.Manifest.Architecture.MaxPositionEmbeddings));
            var onCpu = Perplexity.Evaluate(cpu, stream, length, maxWindows, cancellationToken: context.Cancellation);
            var onGpu = Perplexity.Evaluate(gpu, stream, length, maxWindows, cancellationToken: context.Cancellation);
            double relative = Math.Abs(onGpu.Perplexity - onCpu.Perplexity) / onCpu.Perplexity;
            rows.Add(new CheckRow(label, $"perplexity, {onCpu.Windows} windows of {length}", relative <= PerplexityTolerance,
                $"cuda {onGpu.Perplexity:F4}, cpu {onCpu.Perplexity:F4}: {100 * relative:F3} % (limit {100 * PerplexityTolerance:F1} %)"));
        }
    }

    /// <summary>Every linear of the decode step on a seeded random input, GPU against the pack's CPU kernel.</summary>
    private static void CheckLinears(PackedModel pack, CudaModel gpu, string label, List<CheckRow> rows)
    {
        int passed = 0, total = 0;
        double worst = 0; // NaN once any linear gives NaN
        string worstName = "";
        var random = new Random(20261202);
        foreach (var name in gpu.LinearNames)
        {
            using var cpuLinear = CpuLinears.Open(pack, name, 1);
            var input = new float[cpuLinear.Cols];
            for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);
            var expected = new float[cpuLinear.Rows];
            cpuLinear.MultiplyAll(input, 1, expected);
            var actual = gpu.RunLinear(name, input);
            double scale = expected.Max(Math.Abs), error = 0;
            for (int r = 0; r < expected.Length; r++) error = Math.Max(error, Math.Abs(actual[r] - expected[r]));
            double relative = scale > 0 ? error / scale : error;
            bool decoded = cpuLinear is DecodedCpuLinear;
            bool ok = relative <= (decoded ? DecodedTolerance : SameActivationTolerance) && actual.All(float.IsFinite);
            total++;
            if (ok) passed++;
            else if (total - passed <= ListedKernelFailures)
                rows.Add(new CheckRow(label, $"kernel {name}", false, $"max |cuda − cpu| / max |cpu| = {relative:E2} against {cpuLinear.GetType().Name}"));
            if (double.IsNaN(relative) || relative > worst) (worst, worstName) = (relative, name);
        }
        var layouts = string.Join(", ", gpu.LinearNames.Select(n => pack.Manifest.FindLinear(n)?.Layout ?? "f16 tensor").GroupBy(l => l).Select(g => $"{g.Count()} {g.Key}"));
        rows.Add(new CheckRow(label, "kernels against the CPU kernels", passed == total,
            $"{passed}/{total} linears ({layouts}); worst relative difference {worst:E2} ({worstName})"));
    }

    private static string LastLine(string text) => text.TrimEnd().Split('\n').LastOrDefault(l => l.StartsWith("FAIL", StringComparison.Ordinal)) ?? text.TrimEnd().Split('\n')[^1];
}
