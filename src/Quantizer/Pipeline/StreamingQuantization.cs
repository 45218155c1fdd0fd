using SagePtq.Quantizer.Methods;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>What a streamed run writes besides the weights: the pack folder, its tokenizer and manifest fields.</summary>
/// <param name="Options">The manifest's method options (seed, embeddings... included): they are also what a resume must match.</param>
public sealed record PackTarget(string Directory, byte[] TokenizerJson, string Method, IReadOnlyDictionary<string, string> Options);

/// <summary>
/// Data-free quantization straight into the pack, for models too large to hold quantized in memory
/// (7B: every linear with its dense dequantized copy would be tens of GB). The pack is written in
/// <see cref="PackWriter.CanonicalOrder"/>, so the bytes equal those of <see cref="ModelQuantizer.Run"/>
/// followed by <see cref="PackWriter.Write"/>: first the float tensors, each read from the checkpoint a
/// chunk at a time (with file reads, not the memory map: see <see cref="UnmappedTensorReader"/>); then the quantized embedding and LM head if any; then layer by layer,
/// each linear's payload and statistics only (the dense arrays are dropped as soon as a linear is done),
/// so the peak is about one layer's work. Every finished layer is also saved to the resume folder
/// (<see cref="ResumeStore"/>): after an interruption the same command continues at the first
/// unfinished layer and produces the same pack; success deletes the folder.
/// </summary>
public static class StreamingQuantization
{
    /// <param name="linearsAtOnce">How many of a layer's seven linears are quantized concurrently (1..7); the pack does not depend on it.</param>
    /// <param name="log">Told about resume decisions ("resuming at layer K", partial state discarded).</param>
    /// <returns>The manifest of the committed pack.</returns>
    /// <exception cref="ArgumentException">A method that needs calibration, or <paramref name="linearsAtOnce"/> outside 1..7.</exception>
    /// <exception cref="Runtime.ModelFileException">A non-finite weight, or a folder that cannot be written.</exception>
    public static PackManifest Run(Checkpoint checkpoint, ILinearQuantizer quantizer, ulong seed, EmbeddingQuantization? embeddings,
        PackTarget target, int linearsAtOnce = 1, IProgress<QuantizeProgress>? progress = null, Action<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(quantizer);
        ArgumentNullException.ThrowIfNull(target);
        if (quantizer.NeedsHessian)
            throw new ArgumentException($"method '{quantizer.Method}' needs calibration text; streaming is data-free only", nameof(quantizer));
        ArgumentOutOfRangeException.ThrowIfLessThan(linearsAtOnce, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(linearsAtOnce, LlamaTensors.LayerLinears.Length);
        embeddings ??= EmbeddingQuantization.Fp16;
        var config = checkpoint.Config;

        using var store = ResumeStore.Open(ResumeStore.PathFor(target.Directory),
            ResumeStore.DescribeInputs(checkpoint, quantizer.Method, target.Options, config.NumLayers), config.NumLayers, log);
        bool created = !System.IO.Directory.Exists(target.Directory);
        try
        {
            return Write(checkpoint, quantizer, seed, embeddings, target, store, linearsAtOnce, progress, cancellationToken);
        }
        catch when (created)
        {
            // As the in-memory path does, leave no output folder behind when there was none before.
            try { System.IO.Directory.Delete(target.Directory); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    private static PackManifest Write(Checkpoint checkpoint, ILinearQuantizer quantizer, ulong seed, EmbeddingQuantization embeddings,
        PackTarget target, ResumeStore store, int linearsAtOnce, IProgress<QuantizeProgress>? progress, CancellationToken cancellationToken)
    {
        var config = checkpoint.Config;
        using var writer = PackWriter.Create(target.Directory, config, target.TokenizerJson, target.Method, target.Options);
        using var reader = new UnmappedTensorReader(checkpoint);

        var toQuantize = embeddings.TensorsOf(config);
        var others = LlamaTensors.Expected(config)
            .Where(t => !LlamaTensors.LayerLinears.Any(part => t.Name.EndsWith($".{part}.weight", StringComparison.Ordinal)))
            .ToList();
        foreach (var (name, shape) in others.Where(t => !toQuantize.Contains(t.Name)).OrderBy(t => t.Name, PackWriter.CanonicalOrder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            writer.AddTensor(name, shape, (start, destination) => reader.ReadFloat32(name, destination, start));
        }
        foreach (var (name, shape) in others.Where(t => toQuantize.Contains(t.Name)).OrderBy(t => t.Name, PackWriter.CanonicalOrder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var data = reader.ReadFloat32(name);
            int rows = (int)shape[0], cols = (int)shape[1];
            ModelQuantizer.CheckFinite(checkpoint, name, data, cols);
            var quantized = embeddings.Quantize(new Methods.LinearTarget(name, rows, cols, data, null, LinearSeeds.For(seed, name)));
            writer.AddLinear(name, quantized.Payload, quantized.Stats);
        }

        int total = config.NumLayers * LlamaTensors.LayerLinears.Length, done = 0;
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            List<SpilledLinear> linears;
            if (layer < store.FinishedLayers)
            {
                linears = store.Load(layer);
                done += linears.Count;
                progress?.Report(new QuantizeProgress(layer, config.NumLayers, "resumed", done, total));
            }
            else
            {
                var gate = new Lock();   // linears may finish on several threads; progress is told one at a time
                linears = QuantizeLayer(checkpoint, reader, quantizer, layer, seed, linearsAtOnce, part =>
                {
                    lock (gate) progress?.Report(new QuantizeProgress(layer, config.NumLayers, part, ++done, total));
                }, cancellationToken);
                store.Save(layer, linears);
            }
            foreach (var linear in linears.OrderBy(l => l.Name, PackWriter.CanonicalOrder))
                writer.AddLinear(linear.Name, linear.Payload, linear.Stats);
        }

        var manifest = writer.Commit(cancellationToken);
        store.Delete();
        return manifest;
    }

    /// <summary>The seven linears of one layer, payloads and statistics only, in forward order.</summary>
    private static List<SpilledLinear> QuantizeLayer(Checkpoint checkpoint, UnmappedTensorReader reader, ILinearQuantizer quantizer, int layer, ulong seed,
        int linearsAtOnce, Action<string> linearDone, CancellationToken cancellationToken)
    {
        var parts = LlamaTensors.LayerLinears;
        var results = new SpilledLinear[parts.Length];
        // No token here: a cancellation between linears would otherwise also discard the linears already finished.
        var options = new ParallelOptions { MaxDegreeOfParallelism = linearsAtOnce };
        try
        {
            Parallel.For(0, parts.Length, options, k =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                string name = LlamaTensors.Layer(layer, parts[k]);
                ModelLinear? linear = ModelQuantizer.QuantizeOne(checkpoint, quantizer, layer, parts[k], reader.ReadFloat32(name), hessian: null, seed);
                results[k] = new SpilledLinear(name, linear.Quantized.Payload, linear.Quantized.Stats);   // the dense copy is dropped here
                // Its dense arrays (large-object heap, up to 180 MB each at 7B) are garbage now. The GC would
                // collect them only at its next full collection, after several more linears had piled
                // theirs on top; a full collection per linear costs milliseconds against seconds of work.
                linear = null;
                GC.Collect();
                linearDone(parts[k]);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
        {
            // Report the first failure as itself (a ModelFileException naming the tensor, a cancellation).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            throw;
        }
        return [.. results];
    }
}
