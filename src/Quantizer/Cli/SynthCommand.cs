using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SagePtq.Quantizer.Methods.Sage;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Quantizer.Synthetic;
using SagePtq.Runtime;
using SagePtq.Runtime.Packing;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// <c>sageptq synth</c>: writes a pack of a named shape (LLaMA-2-7B...) filled with seeded random weights
/// in the sage layout, for runtime speed and memory measurements without the checkpoint. The manifest's
/// method is "synthetic": its outputs are noise. Written atomically like <c>quantize</c>.
/// </summary>
internal static class SynthCommand
{
    public static Command Create(CliContext context)
    {
        var shape = new Option<string>("--shape")
        {
            Description = $"The architecture: one of {string.Join(", ", SyntheticShape.Known.Select(s => s.Name))}.",
            Required = true,
        };
        var output = new Option<string>("--out") { Description = "The pack folder to write (created if needed).", Required = true };
        var method = new Option<string>("--method") { Description = "The layout of the decoder linears: sage (the only one).", DefaultValueFactory = _ => "sage" };
        var bits = new Option<double>("--bits")
        {
            Description = "Storage-bit budget of each sage linear; it sets how many whole 4-bit salient columns there are (as quantize does).",
            DefaultValueFactory = _ => new SageOptions().Bits,
        }.WithRange(1.0001, 16.0);
        var embeddings = new Option<string>("--embeddings")
        {
            Description = $"How the token embedding and LM head are stored: fp16, or uniform 8 or 4 bits ({EmbeddingQuantization.GroupSize} values per group).",
            DefaultValueFactory = _ => "fp16",
        };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights: same options and seed, byte-identical pack.", DefaultValueFactory = _ => 0 };
        var rotate = new Option<bool>("--rotate")
        {
            Description = "Mark the sage linears rotated, as quantize writes them with calibration data (the runtime then applies a Hadamard transform before each).",
        };
        var json = CliOptions.Json();

        var command = new Command("synth", "Write a pack of random weights in the sage layout (benchmarks only: not a model).")
            { shape, output, method, bits, embeddings, seed, rotate, json };
        command.SetAction(parse =>
        {
            var clock = Stopwatch.StartNew();
            string outDir = parse.GetValue(output)!;
            SyntheticShape synthetic;
            EmbeddingQuantization embeddingStorage;
            try
            {
                synthetic = SyntheticShape.Parse(parse.GetValue(shape)!);
                embeddingStorage = EmbeddingQuantization.Parse(parse.GetValue(embeddings)!);
            }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
            string methodName = parse.GetValue(method)!;
            if (methodName != "sage") throw new UsageException($"--method '{methodName}': synth writes the sage layout only");
            CliOptions.CheckOutputFolder(outDir);

            ulong seedValue = parse.GetValue(seed);
            var manifest = CliProgress.Run(context, $"synth {synthetic.Name}", synthetic.Layers, layerDone =>
                SyntheticPack.Write(outDir, synthetic, seedValue, parse.GetValue(bits), embeddingStorage, parse.GetValue(rotate), layerDone, context.Cancellation));

            var bitReport = ModelBitReport.FromManifest(manifest);
            var first = manifest.Linears.First(l => l.Layer is not null);
            double seconds = clock.Elapsed.TotalSeconds;
            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(context.Output, new
                {
                    pack = Path.GetFullPath(outDir),
                    shape = synthetic.Name,
                    method = SyntheticPack.MethodName,
                    seed = seedValue,
                    linears = manifest.Linears.Count(l => l.Layer is not null),
                    salientRatio = first.Stats.SaliencyRatio,
                    storageBitsPerWeight = bitReport.StorageBitsPerWeight,
                    packBytes = bitReport.PackBytes,
                    seconds,
                });
            }
            else
            {
                context.Output.WriteLine($"wrote {Path.Combine(outDir, PackFormat.PackFileName)} ({synthetic.Name}, random sage weights, seed {seedValue.ToString(CultureInfo.InvariantCulture)}; not a model)");
                context.Output.WriteLine($"  storage bits/weight {bitReport.StorageBitsPerWeight:F4}, salient columns {100 * first.Stats.SaliencyRatio:F2} % of {first.Name}");
                context.Output.WriteLine($"  pack {bitReport.PackBytes / 1e6:F2} MB, {seconds:F1} s");
            }
            return SagePtqCli.Success;
        });
        return command;
    }
}
