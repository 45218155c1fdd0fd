using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;

namespace SagePtq.Runtime.Cuda.Model;

/// <summary>
/// What <see cref="CudaModel"/> uploads and launches for a pack, decided on the host from the manifest alone
/// (so it is tested without a GPU): each decoder layer's seven linears in forward order with their rotation
/// seeds, the LM head (a linear record, or a plain f16/f32 tensor run as an <c>f16</c> linear), the placement
/// of every section in device memory, and the KV cache's length.
/// </summary>
internal sealed class CudaDecodePlan
{
    /// <summary>A linear the decode step runs, and the seed its sage activation is rotated with (0 when unrotated).</summary>
    public sealed record PlannedLinear(LinearRecord Record, ulong RotationSeed);

    /// <summary>One decoder layer's linears in <see cref="CudaSourceBuilder.Roles"/> order.</summary>
    public sealed record PlannedLayer(PlannedLinear[] Linears);

    private CudaDecodePlan(IReadOnlyList<PlannedLayer> layers, PlannedLinear lmHead, WeightPlan weights, int contextLength)
    {
        Layers = layers;
        LmHeadPlan = lmHead;
        Weights = weights;
        ContextLength = contextLength;
    }

    public IReadOnlyList<PlannedLayer> Layers { get; }

    public PlannedLinear LmHeadPlan { get; }

    public LinearRecord LmHead => LmHeadPlan.Record;

    /// <summary>Every linear the step runs: the decoder's, then the LM head.</summary>
    public IEnumerable<PlannedLinear> Linears => Layers.SelectMany(l => l.Linears).Append(LmHeadPlan);

    public WeightPlan Weights { get; }

    public int ContextLength { get; }

    /// <summary>Plans <paramref name="manifest"/>'s decode step.</summary>
    /// <exception cref="CudaUnavailableException">A linear's layout has no CUDA kernel.</exception>
    /// <exception cref="ModelFileException">The manifest lacks a linear or the LM head, or a shape disagrees with the architecture.</exception>
    public static CudaDecodePlan Create(PackManifest manifest, int? contextLength, string manifestPath = PackFormat.ManifestFileName)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var c = manifest.Architecture;
        var layers = new List<PlannedLayer>();
        for (int layer = 0; layer < c.NumLayers; layer++)
        {
            var linears = new PlannedLinear[CudaSourceBuilder.Roles.Count];
            for (int role = 0; role < linears.Length; role++)
            {
                string part = CudaSourceBuilder.Roles[role];
                var record = manifest.FindLinear(CudaSourceBuilder.LinearName(layer, part))
                    ?? throw new ModelFileException(manifestPath, $"has no linear {CudaSourceBuilder.LinearName(layer, part)}");
                var shape = LlamaTensors.LayerShape(c, part);
                if (record.Rows != shape[0] || record.Cols != shape[1])
                    throw new ModelFileException(manifestPath, $"{record.Name} is [{record.Rows}, {record.Cols}], the architecture needs [{shape[0]}, {shape[1]}]");
                linears[role] = Plan(record);
            }
            layers.Add(new PlannedLayer(linears));
        }
        string headName = c.TieWordEmbeddings ? LlamaTensors.Embedding : LlamaTensors.LmHead;
        var head = manifest.FindLinear(headName) ?? HeadFromTensor(manifest, headName, manifestPath);
        if (head.Rows != c.VocabSize || head.Cols != c.HiddenSize)
            throw new ModelFileException(manifestPath, $"{headName} is [{head.Rows}, {head.Cols}], the architecture needs [{c.VocabSize}, {c.HiddenSize}]");
        var lmHead = Plan(head);

        var weights = new WeightPlan();
        foreach (var linear in layers.SelectMany(l => l.Linears).Append(lmHead))
            weights.Add(linear.Record.Name, linear.Record.Sections.Select(s => s.Length));
        int context = Math.Min(contextLength ?? c.MaxPositionEmbeddings, c.MaxPositionEmbeddings);
        return new CudaDecodePlan(layers, lmHead, weights, context);
    }

    private static PlannedLinear Plan(LinearRecord record)
    {
        if (!CudaSourceBuilder.CudaLayouts.TryGetValue(record.Layout, out var keys))
            throw new CudaUnavailableException($"{record.Name} uses the '{record.Layout}' layout, which has no CUDA kernel: this pack runs on the CPU backend only");
        foreach (var key in keys)
            if (!record.Parameters.ContainsKey(key))
                throw new CudaUnavailableException($"{record.Name}: the {record.Layout} layout's parameter '{key}' is missing");
        ulong seed = 0;
        if (record.Layout == "sage" && record.Parameters.TryGetValue("rotate_seed_lo", out int lo))
            seed = (uint)lo | ((ulong)(uint)record.Parameters.GetValueOrDefault("rotate_seed_hi") << 32);
        return new PlannedLinear(record, seed);
    }

    /// <summary>A plain float matrix as an <c>f16</c> linear of one section (converted to f16 on upload when it is f32).</summary>
    private static LinearRecord HeadFromTensor(PackManifest manifest, string name, string manifestPath)
    {
        var tensor = manifest.FindTensor(name);
        if (tensor is null || tensor.DataType is not (PackDataType.Float16 or PackDataType.Float32) || tensor.Shape.Count != 2)
            throw new ModelFileException(manifestPath, $"has no linear or 2-D float tensor {name}, which the LM head needs");
        int rows = checked((int)tensor.Shape[0]), cols = checked((int)tensor.Shape[1]);
        return new LinearRecord(name, null, rows, cols, "f16", new Dictionary<string, int>(),
            [new SectionRecord("weights", tensor.Offset, 2L * rows * cols)], new LinearStats(0, 0, 0, 0, 16));
    }
}

/// <summary>The FP16 stand-in of a pack for the benchmark's side-by-side FP16 decode (<see cref="CudaModelOptions.SyntheticFp16Weights"/>).</summary>
internal static class Fp16Substitute
{
    /// <summary><paramref name="manifest"/> with every decoder linear an <c>f16</c> linear of one section of the same shape.</summary>
    public static PackManifest Manifest(PackManifest manifest) => manifest with
    {
        Linears = manifest.Linears.Select(l => l.Layer is null ? l : new LinearRecord(l.Name, l.Layer, l.Rows, l.Cols, "f16",
            new Dictionary<string, int>(), [new SectionRecord("weights", 0, 2L * l.Rows * l.Cols)], new LinearStats(0, 0, 0, 0, 16))).ToList(),
    };

    /// <summary>Small pseudo-random halves (|w| &lt; 1/64, never NaN), <paramref name="bytes"/> of them, the same every time.</summary>
    public static byte[] Noise(long bytes)
    {
        var halves = new Half[(bytes + 1) / 2];
        ulong state = 0x5A6E5EEDUL;
        for (int i = 0; i < halves.Length; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            halves[i] = (Half)(((int)(z >> 40) - (1 << 23)) / (float)(1 << 29));
        }
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
    }
}

/// <summary>The RoPE tables of the GPU: built exactly as the CPU's <see cref="Reference.RotaryEmbedding"/> builds its own.</summary>
internal static class RopeTables
{
    /// <summary>cos and sin, [positions × headDim/2] each: inverse frequency in FP32, angle in FP32, then cos and sin.</summary>
    public static (float[] Cos, float[] Sin) Build(int headDim, int positions, float theta)
    {
        int half = headDim / 2;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int i = 0; i < half; i++)
        {
            float inverseFrequency = 1f / MathF.Pow(theta, 2 * i / (float)headDim);
            for (int position = 0; position < positions; position++)
            {
                float angle = position * inverseFrequency;
                cos[position * half + i] = (float)Math.Cos(angle);
                sin[position * half + i] = (float)Math.Sin(angle);
            }
        }
        return (cos, sin);
    }
}
