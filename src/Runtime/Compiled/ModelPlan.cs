using System.Globalization;
using SagePtq.Runtime.Packing;

namespace SagePtq.Runtime.Compiled;

/// <summary>
/// What a generated model class knows about one quantized linear at compile time, copied from its
/// manifest record: shape [<see cref="Rows"/> = out, <see cref="Cols"/> = in], layout, group count K,
/// and the number and bit width of its salient weights. The runtime checks it against the pack
/// when the model opens, so constants and weights cannot drift apart.
/// </summary>
public sealed record LinearPlan(string Name, int Rows, int Cols, string Layout, int GroupCount, long SalientCount, int SalientBits)
{
    /// <summary>The share of this linear's weights that are salient (stored at <see cref="SalientBits"/>).</summary>
    public double SaliencyRatio => (double)SalientCount / ((long)Rows * Cols);

    /// <summary>The plan a manifest record stands for (what the generator emits for it).</summary>
    public static LinearPlan From(LinearRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return new(record.Name, record.Rows, record.Cols, record.Layout, record.Stats.GroupCount, record.Stats.SalientCount, record.Stats.SalientBits);
    }

    /// <summary>One line for messages: "256×704 sage, K=1, 9 salient at 4 bits".</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Rows}×{Cols} {Layout}, K={GroupCount}, {SalientCount} salient at {SalientBits} bits");
}

/// <summary>The seven linears of one decoder layer, as <see cref="LinearPlan"/>s.</summary>
public sealed record LayerPlan(int Index, LinearPlan Query, LinearPlan Key, LinearPlan Value, LinearPlan Output, LinearPlan Gate, LinearPlan Up, LinearPlan Down)
{
    /// <summary>The seven plans in forward order.</summary>
    public IEnumerable<LinearPlan> Linears => [Query, Key, Value, Output, Gate, Up, Down];

    /// <summary>The plan a manifest gives for decoder layer <paramref name="index"/>.</summary>
    /// <exception cref="KeyNotFoundException">The manifest has no record for one of the layer's linears.</exception>
    public static LayerPlan From(PackManifest manifest, int index)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        LinearPlan Part(string part)
        {
            string name = Checkpoints.LlamaTensors.Layer(index, part);
            return LinearPlan.From(manifest.FindLinear(name) ?? throw new KeyNotFoundException($"the manifest has no linear {name}"));
        }
        return new(index, Part("self_attn.q_proj"), Part("self_attn.k_proj"), Part("self_attn.v_proj"), Part("self_attn.o_proj"),
            Part("mlp.gate_proj"), Part("mlp.up_proj"), Part("mlp.down_proj"));
    }
}

/// <summary>
/// Everything a generated model class was compiled for: its ID, the SHA-256 of the manifest it was
/// generated from (lower-case hex), and one <see cref="LayerPlan"/> per decoder layer.
/// </summary>
public sealed record ModelPlan(string ModelId, string ManifestSha256, IReadOnlyList<LayerPlan> Layers);
