using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SagePtq.Quantizer.Synthetic;
using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// <c>sageptq synth-checkpoint</c>: writes a Hugging Face-layout checkpoint of a named shape (LLaMA-2-7B,
/// LLaMA-3-8B...) with seeded heavy-tailed weights (<see cref="SyntheticWeights"/>), for running
/// <c>quantize</c> at full size where no real weights can be downloaded. The tokenizer is <c>--tokenizer</c>
/// when given, else the Llama-2 tokenizer from the shared assets when the shape has its 32000-token
/// vocabulary, else the synthetic tokenizer of the shape's vocabulary size.
/// </summary>
internal static class SynthCheckpointCommand
{
    private const int Llama2Vocab = 32000;

    public static Command Create(CliContext context)
    {
        var shape = new Option<string>("--shape")
        {
            Description = $"The architecture: one of {string.Join(", ", SyntheticShape.Known.Select(s => s.Name))}.",
            Required = true,
        };
        var output = new Option<string>("--out") { Description = "The checkpoint folder to write (must not exist, or be empty).", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights: same options and seed, byte-identical files.", DefaultValueFactory = _ => 0 };
        var layers = new Option<int?>("--layers") { Description = "Decoder layers instead of the shape's own count (full width, for quick profiling)." };
        var dtype = new Option<string>("--dtype") { Description = "Element type of the weights: f16 or bf16.", DefaultValueFactory = _ => "f16" };
        dtype.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string>();
            if (value is not ("f16" or "bf16")) result.AddError($"--dtype must be f16 or bf16, not '{value}'.");
        });
        var shardBytes = new Option<long>("--shard-bytes")
        {
            Description = "Most data bytes per safetensors shard (Hugging Face's default 5 GB).",
            DefaultValueFactory = _ => SyntheticCheckpoint.DefaultShardBytes,
        }.WithRange(1L, long.MaxValue);
        var tokenizerFile = new Option<string?>("--tokenizer") { Description = "A tokenizer.json to copy in (its vocabulary must fit the shape's)." };
        var json = CliOptions.Json();

        var command = new Command("synth-checkpoint", "Write a Hugging Face checkpoint of seeded synthetic weights (for full-size runs: not a model).")
            { shape, output, seed, layers, dtype, shardBytes, tokenizerFile, json };
        command.SetAction(parse =>
        {
            var clock = Stopwatch.StartNew();
            string outDir = parse.GetValue(output)!;
            SyntheticShape synthetic;
            try
            {
                synthetic = SyntheticShape.Parse(parse.GetValue(shape)!);
                if (parse.GetValue(layers) is { } count) synthetic = synthetic.WithLayers(count);
            }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
            CliOptions.CheckOutputFolder(outDir);
            var (tokenizerJson, tokenizerSource) = ChooseTokenizer(parse.GetValue(tokenizerFile), synthetic);
            var elementType = parse.GetValue(dtype) == "bf16" ? TensorDType.BF16 : TensorDType.F16;

            ulong seedValue = parse.GetValue(seed);
            var shards = CliProgress.Run(context, $"synth-checkpoint {synthetic.Name}", SyntheticCheckpoint.TensorCount(synthetic), tensorDone =>
                SyntheticCheckpoint.Write(outDir, synthetic, seedValue, elementType, parse.GetValue(shardBytes), tokenizerJson, tensorDone, context.Cancellation));

            long bytes = shards.Sum(s => new FileInfo(Path.Combine(outDir, s)).Length);
            double seconds = clock.Elapsed.TotalSeconds;
            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(context.Output, new
                {
                    checkpoint = Path.GetFullPath(outDir),
                    shape = synthetic.Name,
                    layers = synthetic.Layers,
                    dtype = elementType.ToString(),
                    seed = seedValue,
                    shards,
                    bytes,
                    tokenizer = tokenizerSource,
                    seconds,
                });
            }
            else
            {
                context.Output.WriteLine($"wrote {Path.GetFullPath(outDir)} ({synthetic.Name}, {synthetic.Layers} layers, {elementType}, seed {seedValue.ToString(CultureInfo.InvariantCulture)}; synthetic weights, not a model)");
                context.Output.WriteLine($"  {shards.Count} shard(s), {bytes / 1e9:F2} GB, tokenizer: {tokenizerSource}, {seconds:F1} s");
            }
            return SagePtqCli.Success;
        });
        return command;
    }

    /// <summary>The tokenizer.json bytes to ship and where they came from.</summary>
    private static (byte[] Json, string Source) ChooseTokenizer(string? given, SyntheticShape shape)
    {
        if (given is not null)
        {
            if (!File.Exists(given)) throw new ModelFileException(given, "file not found");
            var bytes = File.ReadAllBytes(given);
            var tokenizer = Tokenizer.Parse(System.Text.Encoding.UTF8.GetString(bytes), given);
            if (tokenizer.VocabSize > shape.Vocab)
                throw new ModelFileException(given, $"has {tokenizer.VocabSize} tokens, more than the {shape.Vocab} of shape {shape.Name}");
            return (bytes, Path.GetFullPath(given));
        }
        if (shape.Vocab == Llama2Vocab && FindSharedLlama2Tokenizer() is { } shared)
            return (File.ReadAllBytes(shared), shared);
        return (SyntheticTokenizer.Create(shape.Vocab), $"synthetic ({shape.Vocab} tokens)");
    }

    /// <summary>
    /// <c>$SAGEPTQ_SHARED/tokenizers/llama2/tokenizer.json</c>, else <c>shared/tokenizers/llama2/tokenizer.json</c>
    /// in the nearest folder above the working directory or the executable that has one (the repository's
    /// sibling <c>../shared</c>); null when there is none.
    /// </summary>
    private static string? FindSharedLlama2Tokenizer()
    {
        string[] relative = ["tokenizers", "llama2", Checkpoint.TokenizerFileName];
        if (Environment.GetEnvironmentVariable("SAGEPTQ_SHARED") is { Length: > 0 } env)
        {
            string path = Path.Combine([env, .. relative]);
            return File.Exists(path) ? Path.GetFullPath(path) : null;
        }
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string path = Path.Combine([dir.FullName, "shared", .. relative]);
                if (File.Exists(path)) return path;
            }
        return null;
    }
}
