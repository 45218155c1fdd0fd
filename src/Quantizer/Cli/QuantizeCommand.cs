using System.CommandLine;
using System.Diagnostics;
using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// <c>sageptq quantize</c>: a checkpoint in, a pack out (model.sagepack + model.manifest.json),
/// written atomically: on any error or Ctrl+C the output folder keeps what it had before. Data-free
/// runs stream into the pack (<see cref="StreamingQuantization"/>) and keep their finished layers in
/// <c>OUT.partial</c>, so that the same command after an interruption continues where it stopped.
/// </summary>
internal static class QuantizeCommand
{
    public static Command Create(CliContext context)
    {
        var model = CliOptions.ModelDir();
        var method = new Option<string>("--method") { Description = $"One of {string.Join(", ", MethodCatalog.Names)}.", DefaultValueFactory = _ => "sage" };
        var output = new Option<string>("--out") { Description = "The pack folder to write (created if needed).", Required = true };
        var bits = new Option<double?>("--bits") { Description = "Shorthand for --option bits=X: grid bits (rtn, gptq, septq) or the storage-bit budget (sage)." };
        var optionPairs = new Option<string[]>("--option") { Description = "A method option key=value (repeatable); unknown keys are refused with the list of known ones." };
        var calibration = new Option<string?>("--calibration") { Description = "Calibration text (documents separated by a blank line). Required by gptq, septq, billm, pbllm; makes sage Hessian-aware." };
        var windows = new Option<int>("--calibration-windows") { Description = "Calibration windows drawn from the text.", DefaultValueFactory = _ => CalibrationWindows.DefaultCount }.WithRange(1, 100_000);
        var length = new Option<int>("--calibration-length") { Description = "Tokens per calibration window.", DefaultValueFactory = _ => CalibrationWindows.DefaultLength }.WithRange(2, 1 << 20);
        var embeddings = new Option<string>("--embeddings")
        {
            Description = "How the token embedding and LM head are stored: fp16, or round-to-nearest 8 or 4 bits " +
                $"(uniform layout, {EmbeddingQuantization.GroupSize} hidden values per group). Reported apart from the decoder linears.",
            DefaultValueFactory = _ => "fp16",
        };
        embeddings.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string>();
            if (!EmbeddingQuantization.Choices.Contains(value))
                result.AddError($"--embeddings must be one of {string.Join(", ", EmbeddingQuantization.Choices)}, not '{value}'.");
        });
        var parallelLinears = new Option<int>("--parallel-linears")
        {
            Description = "Data-free runs: how many of a layer's seven linears are quantized at once (the pack does not depend on it).",
            DefaultValueFactory = _ => 1,
        }.WithRange(1, LlamaTensors.LayerLinears.Length);
        var seed = new Option<ulong>("--seed") { Description = "Seed of every random choice: same inputs and seed, byte-identical pack.", DefaultValueFactory = _ => 0 };
        var json = CliOptions.Json();

        var command = new Command("quantize", "Quantize a checkpoint into a pack.") { model, method, output, bits, optionPairs, embeddings, calibration, windows, length, parallelLinears, seed, json };
        command.SetAction(parse =>
        {
            var clock = Stopwatch.StartNew();
            string modelDir = parse.GetValue(model)!, outDir = parse.GetValue(output)!, methodName = parse.GetValue(method)!;
            var given = parse.GetValue(optionPairs) ?? [];
            if (parse.GetValue(bits) is { } b) given = [.. given, $"bits={b.ToString(System.Globalization.CultureInfo.InvariantCulture)}"];

            MethodOptions methodOptions;
            ILinearQuantizer quantizer;
            EmbeddingQuantization embeddingStorage;
            try
            {
                methodOptions = MethodOptions.Parse(given);
                quantizer = MethodCatalog.Create(methodName, methodOptions);
                embeddingStorage = EmbeddingQuantization.Parse(parse.GetValue(embeddings)!);
            }
            catch (ArgumentException e) { throw new UsageException(e.Message); }

            CliOptions.CheckOutputFolder(outDir);
            using var checkpoint = Checkpoint.Open(modelDir);
            var tokenizerJson = ReadTokenizer(checkpoint.TokenizerPath);
            var tokenizer = Tokenizer.Parse(System.Text.Encoding.UTF8.GetString(tokenizerJson), checkpoint.TokenizerPath);

            string? calibrationPath = parse.GetValue(calibration);
            if (calibrationPath is null && quantizer.NeedsHessian)
                throw new UsageException($"method '{methodName}' needs calibration text: give --calibration FILE (the project's protocol uses train.txt).");
            int windowLength = parse.GetValue(length);
            if (calibrationPath is not null && windowLength > checkpoint.Config.MaxPositionEmbeddings)
                throw new UsageException($"--calibration-length {windowLength} is longer than the model's {checkpoint.Config.MaxPositionEmbeddings} positions.");
            int[][]? calibrationWindows = calibrationPath is null ? null
                : CalibrationWindows.Draw(EvaluationText.TokenizeDocuments(tokenizer, CliOptions.ReadText(calibrationPath)),
                    parse.GetValue(windows), windowLength, parse.GetValue(seed), calibrationPath);

            var options = new SortedDictionary<string, string>(methodOptions.Effective.ToDictionary(), StringComparer.Ordinal)
            {
                ["seed"] = parse.GetValue(seed).ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["embeddings"] = embeddingStorage.Name,
                ["calibration"] = calibrationPath is null ? "none" : $"{Path.GetFileName(calibrationPath)}, {calibrationWindows!.Length} x {windowLength} tokens",
            };
            int total = checkpoint.Config.NumLayers * LlamaTensors.LayerLinears.Length;
            var manifest = calibrationWindows is null
                ? CliProgress.Run(context, $"quantize {methodName}", total, report =>
                    StreamingQuantization.Run(checkpoint, quantizer, parse.GetValue(seed), embeddingStorage,
                        new PackTarget(outDir, tokenizerJson, methodName, options), parse.GetValue(parallelLinears),
                        new InlineProgress<QuantizeProgress>(p => report(p.LinearsDone)), context.Error.WriteLine, context.Cancellation))
                : WriteCalibrated(context, checkpoint, quantizer, methodName, calibrationWindows, parse.GetValue(seed), embeddingStorage,
                    tokenizerJson, outDir, options);

            var bitReport = ModelBitReport.FromManifest(manifest);
            var embeddingParts = bitReport.Others.Where(o => o.Kind is ModelBitReport.EmbeddingKind or ModelBitReport.LmHeadKind).ToList();
            long embeddingBytes = embeddingParts.Sum(o => o.StoredBytes), embeddingElements = embeddingParts.Sum(o => o.Elements);
            double seconds = clock.Elapsed.TotalSeconds;
            double peakMiB = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(context.Output, new
                {
                    pack = Path.GetFullPath(outDir),
                    method = methodName,
                    options,
                    linears = manifest.Linears.Count(l => l.Layer is not null),
                    embeddings = embeddingStorage.Name,
                    embeddingBytes,
                    embeddingStorageBitsPerWeight = 8.0 * embeddingBytes / embeddingElements,
                    storageBitsPerWeight = bitReport.StorageBitsPerWeight,
                    paperBitsPerWeight = bitReport.PaperBitsPerWeight,
                    packBytes = bitReport.PackBytes,
                    fp16CheckpointBytes = bitReport.Fp16CheckpointBytes,
                    seconds,
                    peakWorkingSetMiB = peakMiB,
                });
            }
            else
            {
                context.Output.WriteLine($"wrote {Path.Combine(outDir, PackFormat.PackFileName)} ({methodName}, {bitReport.Linears.Count} linears)");
                context.Output.WriteLine($"  storage bits/weight {bitReport.StorageBitsPerWeight:F4} (paper-style {bitReport.PaperBitsPerWeight:F4})");
                context.Output.WriteLine($"  embedding and LM head ({embeddingStorage.Name}): {embeddingBytes / 1e6:F2} MB, {8.0 * embeddingBytes / embeddingElements:F4} storage bits/weight");
                context.Output.WriteLine($"  pack {bitReport.PackBytes / 1e6:F2} MB, FP16 checkpoint {bitReport.Fp16CheckpointBytes / 1e6:F2} MB");
                context.Output.WriteLine($"  {seconds:F1} s, peak working set {peakMiB:F0} MiB");
            }
            return SagePtqCli.Success;
        });
        return command;
    }


    /// <summary>The calibrated path: layer by layer through the model in memory, then the whole pack at once.</summary>
    private static PackManifest WriteCalibrated(CliContext context, Checkpoint checkpoint, ILinearQuantizer quantizer, string methodName,
        int[][] calibrationWindows, ulong seed, EmbeddingQuantization embeddingStorage, byte[] tokenizerJson, string outDir,
        SortedDictionary<string, string> options)
    {
        int total = checkpoint.Config.NumLayers * LlamaTensors.LayerLinears.Length;
        var quantized = CliProgress.Run(context, $"quantize {methodName}", total, report =>
            ModelQuantizer.Run(checkpoint, quantizer, calibrationWindows, seed, embeddingStorage,
                new InlineProgress<QuantizeProgress>(p => report(p.LinearsDone)), context.Cancellation));
        return PackWriter.Write(outDir, new PackContents
        {
            Config = checkpoint.Config,
            TokenizerJson = tokenizerJson,
            Method = methodName,
            MethodOptions = options,
            Tensors = quantized.FloatTensors.ToDictionary(t => t.Name, t => (t.Data, t.Shape.Select(d => (long)d).ToArray())),
            Linears = quantized.Linears.Select(l => (l.Name, l.Quantized))
                .Concat(quantized.QuantizedTensors.Select(t => (t.Name, t.Quantized)))
                .ToDictionary(l => l.Name, l => (l.Quantized.Payload, l.Quantized.Stats)),
        }, context.Cancellation);
    }

    private static byte[] ReadTokenizer(string path) =>
        File.Exists(path) ? File.ReadAllBytes(path) : throw new ModelFileException(path, "file not found: the pack embeds the model's tokenizer");
}
