using SagePtq.Quantizer.Methods;
using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Reference;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>
/// Walks a checkpoint one decoder layer at a time and quantizes its seven linears with one
/// method. Data-free, each weight is read from the memory-mapped checkpoint when its turn comes,
/// so memory stays at about one matrix. Calibrated, the windows run through the model layer by
/// layer as GPTQ does: each layer's inputs come from the layers before it already quantized, the
/// layer's four input Hessians are accumulated, its linears are quantized, and the windows are
/// pushed through the quantized layer to become the next layer's inputs. The embedding and LM
/// head stay in floating point unless an <see cref="EmbeddingQuantization"/> says otherwise; a
/// quantized embedding is quantized first, so calibration starts from what the pack will hold.
/// This keeps every result (with its dense copy) until the end; <see cref="StreamingQuantization"/>
/// is the data-free path that writes the pack as it goes, for models of 7B parameters and more.
/// </summary>
public static class ModelQuantizer
{
    /// <param name="calibration">Token windows (see <see cref="CalibrationWindows"/>): the run is calibrated when given, data-free when null.</param>
    /// <param name="seed">The run seed; each linear gets its own seed from it and its name.</param>
    /// <param name="embeddings">How the embedding and LM head are stored; null is <see cref="EmbeddingQuantization.Fp16"/>.</param>
    /// <exception cref="ModelFileException">A weight is NaN or infinite.</exception>
    public static QuantizedModel Run(Checkpoint checkpoint, ILinearQuantizer quantizer, IReadOnlyList<int[]>? calibration,
        ulong seed, EmbeddingQuantization? embeddings = null, IProgress<QuantizeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (quantizer.NeedsHessian && calibration is null)
            throw new ArgumentException($"method '{quantizer.Method}' needs calibration text", nameof(calibration));
        var config = checkpoint.Config;
        var (floatTensors, quantizedTensors) = ReadOtherTensors(checkpoint, embeddings ?? EmbeddingQuantization.Fp16, seed, cancellationToken);
        var linears = new List<ModelLinear>(config.NumLayers * LlamaTensors.LayerLinears.Length);
        var report = new Reporter(config, progress);

        if (calibration is null)
        {
            for (int layer = 0; layer < config.NumLayers; layer++)
                foreach (var part in LlamaTensors.LayerLinears)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var name = LlamaTensors.Layer(layer, part);
                    var weight = checkpoint.ReadFloat32(name);
                    linears.Add(QuantizeOne(checkpoint, quantizer, layer, part, weight, hessian: null, seed));
                    report.LinearDone(layer, part);
                }
            return new QuantizedModel(config, quantizer.Method, floatTensors, linears, quantizedTensors);
        }

        var weights = LlamaWeights.FromCheckpoint(checkpoint);
        if (quantizedTensors.FirstOrDefault(t => t.Name == LlamaTensors.Embedding) is { } embedding)
            embedding.Quantized.Dequantized.CopyTo(weights.Embedding, 0);
        var model = new ReferenceModel(weights);
        var hidden = calibration.Select(window =>
        {
            var states = new float[window.Length * config.HiddenSize];
            model.Embed(window, states);
            return states;
        }).ToArray();
        var scratch = new float[hidden.Max(h => h.Length)];

        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            // Pass 1: this layer's linear inputs, from the (quantized) layers before it.
            report.Stage(layer, "calibrating");
            var collector = new HessianCollector(config, layer);
            foreach (var states in hidden)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var x = scratch.AsSpan(0, states.Length);
                states.CopyTo(x);
                model.RunLayer(layer, x, collector);
            }
            var hessians = collector.Finish();

            // Quantize, then put the dequantized weights in place of the originals.
            foreach (var part in LlamaTensors.LayerLinears)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var weight = weights.Layers[layer].Linear(part);
                var linear = QuantizeOne(checkpoint, quantizer, layer, part, (float[])weight.Clone(), hessians[HessianCollector.InputOf(part)], seed);
                linear.Quantized.Dequantized.CopyTo(weight, 0);
                linears.Add(linear);
                report.LinearDone(layer, part);
            }

            // Pass 2: the windows through the quantized layer become the next layer's inputs.
            foreach (var states in hidden)
            {
                cancellationToken.ThrowIfCancellationRequested();
                model.RunLayer(layer, states, observer: null);
            }
        }
        return new QuantizedModel(config, quantizer.Method, floatTensors, linears, quantizedTensors);
    }

    internal static ModelLinear QuantizeOne(Checkpoint checkpoint, ILinearQuantizer quantizer, int layer, string part,
        float[] weight, double[]? hessian, ulong seed)
    {
        var name = LlamaTensors.Layer(layer, part);
        var shape = LlamaTensors.LayerShape(checkpoint.Config, part);
        int rows = (int)shape[0], cols = (int)shape[1];
        CheckFinite(checkpoint, name, weight, cols);
        var target = new LinearTarget(name, rows, cols, weight, hessian, LinearSeeds.For(seed, name));
        return new ModelLinear(name, layer, part, quantizer.Quantize(target));
    }

    /// <summary>A NaN or infinite weight would poison every scale it touches: refuse it by name and position.</summary>
    internal static void CheckFinite(Checkpoint checkpoint, string name, float[] weight, int cols)
    {
        for (int i = 0; i < weight.Length; i++)
            if (!float.IsFinite(weight[i]))
                throw new ModelFileException(checkpoint.Directory,
                    $"tensor {name} has a non-finite weight ({weight[i]}) at [{i / cols}, {i % cols}]");
    }

    /// <summary>
    /// The tensors outside the decoder linears: the norms stay in floating point, and so do the
    /// embedding and LM head unless <paramref name="embeddings"/> quantizes them.
    /// </summary>
    private static (List<FloatTensor> Floats, List<QuantizedTensor> Quantized) ReadOtherTensors(
        Checkpoint checkpoint, EmbeddingQuantization embeddings, ulong seed, CancellationToken cancellationToken)
    {
        var config = checkpoint.Config;
        var toQuantize = embeddings.TensorsOf(config);
        var floats = new List<FloatTensor>();
        var quantized = new List<QuantizedTensor>();
        foreach (var (name, shape) in LlamaTensors.Expected(config))
        {
            if (LlamaTensors.LayerLinears.Any(part => name.EndsWith($".{part}.weight", StringComparison.Ordinal))) continue;
            cancellationToken.ThrowIfCancellationRequested();
            var data = checkpoint.ReadFloat32(name);
            if (!toQuantize.Contains(name))
            {
                floats.Add(new FloatTensor(name, shape.Select(d => (int)d).ToArray(), data));
                continue;
            }
            int rows = (int)shape[0], cols = (int)shape[1];
            CheckFinite(checkpoint, name, data, cols);
            quantized.Add(new QuantizedTensor(name, embeddings.Quantize(new LinearTarget(name, rows, cols, data, null, LinearSeeds.For(seed, name)))));
        }
        return (floats, quantized);
    }

    private sealed class Reporter(ModelConfig config, IProgress<QuantizeProgress>? progress)
    {
        private readonly int _total = config.NumLayers * LlamaTensors.LayerLinears.Length;
        private int _done;

        public void Stage(int layer, string stage) =>
            progress?.Report(new QuantizeProgress(layer, config.NumLayers, stage, _done, _total));

        public void LinearDone(int layer, string part) =>
            progress?.Report(new QuantizeProgress(layer, config.NumLayers, part, ++_done, _total));
    }
}
