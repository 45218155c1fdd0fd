using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Packing;

/// <summary>The bit accounting of one quantized linear (DESIGN.md §3).</summary>
public sealed record LinearBits(string Name, int? Layer, int Rows, int Cols, string Layout, long StoredBytes, double StorageBitsPerWeight, double PaperBitsPerWeight)
{
    public long WeightCount => (long)Rows * Cols;
}

/// <summary>A pack entry reported apart from the decoder linears: embedding, LM head, norms, tokenizer.</summary>
/// <param name="Kind">"embedding", "lm_head", "norm", "tokenizer" or "other" (the <c>ModelBitReport.*Kind</c> constants).</param>
/// <param name="Storage">How it is stored: a data type (<c>f16</c>, <c>f32</c>, <c>bytes</c>) for a plain tensor; for a linear
/// record its layout, with its code width when the layout has one (<c>uniform 8-bit</c>).</param>
/// <param name="Elements">Parameters it holds (bytes for the tokenizer).</param>
/// <param name="StoredBytes">Every byte it takes in the pack (for a linear record, <see cref="LinearRecord.StoredBytes"/>).</param>
public sealed record OtherTensorBits(string Name, string Kind, string Storage, long Elements, long StoredBytes)
{
    public double StorageBitsPerElement => 8.0 * StoredBytes / Elements;
}

/// <summary>
/// The honest bit accounting of a pack, from its manifest alone (DESIGN.md §3): storage and paper
/// bits per weight for every decoder-layer linear and over all of them (weighted by weight count);
/// the embedding, LM head, norms and tokenizer reported apart (as float tensors or, where a linear
/// record stores one, as that record's bytes); and the whole pack against an FP16 checkpoint.
/// </summary>
public sealed record ModelBitReport
{
    /// <summary>The <see cref="OtherTensorBits.Kind"/> of the token embedding.</summary>
    public const string EmbeddingKind = "embedding";

    /// <summary>The <see cref="OtherTensorBits.Kind"/> of the LM head.</summary>
    public const string LmHeadKind = "lm_head";

    /// <summary>Decoder-layer linears (records with a layer index), in manifest order.</summary>
    public required IReadOnlyList<LinearBits> Linears { get; init; }

    /// <summary>Everything else in the pack: embedding, LM head, norms, tokenizer, other, in that order.</summary>
    public required IReadOnlyList<OtherTensorBits> Others { get; init; }

    public long QuantizedWeightCount => Linears.Sum(l => l.WeightCount);
    public long QuantizedStoredBytes => Linears.Sum(l => l.StoredBytes);

    /// <summary>8 × all stored bytes of the decoder linears / all their weights.</summary>
    public double StorageBitsPerWeight => QuantizedWeightCount == 0 ? 0 : 8.0 * QuantizedStoredBytes / QuantizedWeightCount;

    /// <summary>Paper bits per weight averaged over the decoder linears, weighted by weight count.</summary>
    public double PaperBitsPerWeight => QuantizedWeightCount == 0 ? 0 : Linears.Sum(l => l.PaperBitsPerWeight * l.WeightCount) / QuantizedWeightCount;

    /// <summary>Size of <c>model.sagepack</c> (header, padding and table included).</summary>
    public required long PackBytes { get; init; }

    /// <summary>The same model as an FP16 checkpoint: 2 bytes per parameter of every model tensor.</summary>
    public required long Fp16CheckpointBytes { get; init; }

    public double PackToFp16Ratio => (double)PackBytes / Fp16CheckpointBytes;

    public static ModelBitReport FromManifest(PackManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var linears = new List<LinearBits>();
        var others = new List<OtherTensorBits>();
        foreach (var l in manifest.Linears)
        {
            if (l.Layer is not null)
                linears.Add(new LinearBits(l.Name, l.Layer, l.Rows, l.Cols, l.Layout, l.StoredBytes, l.StorageBitsPerWeight, l.PaperBitsPerWeight));
            else
                others.Add(new OtherTensorBits(l.Name, KindOf(l.Name, manifest),
                    l.Parameters.TryGetValue("bits", out int bits) ? $"{l.Layout} {bits}-bit" : l.Layout, l.WeightCount, l.StoredBytes));
        }
        foreach (var t in manifest.Tensors)
            others.Add(new OtherTensorBits(t.Name, KindOf(t.Name, manifest), PackFormat.DataTypeName(t.DataType), t.ElementCount, t.Length));

        long parameters = LlamaTensors.Expected(manifest.Architecture).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        return new ModelBitReport
        {
            Linears = linears,
            Others = others.OrderBy(o => Array.IndexOf(KindOrder, o.Kind)).ToList(),   // stable: pack order within a kind
            PackBytes = manifest.Pack.FileBytes,
            Fp16CheckpointBytes = 2 * parameters,
        };
    }

    /// <summary>The order <see cref="Others"/> lists the kinds in, whichever way each tensor is stored.</summary>
    private static readonly string[] KindOrder = [EmbeddingKind, LmHeadKind, "norm", "tokenizer", "other"];

    private static string KindOf(string name, PackManifest manifest) => name switch
    {
        LlamaTensors.Embedding => EmbeddingKind,
        LlamaTensors.LmHead => LmHeadKind,
        LlamaTensors.FinalNorm => "norm",
        _ when name.EndsWith("layernorm.weight", StringComparison.Ordinal) => "norm",
        _ when name == manifest.TokenizerTensor => "tokenizer",
        _ => "other",
    };
}
