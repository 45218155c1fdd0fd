using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Packing;

/// <summary>
/// The contents of <c>model.manifest.json</c>: what the pack holds and how to read it, small enough for
/// the source generator to read at build time. <see cref="ManifestJson"/> writes and reads it; the
/// schema is described in docs/pack-format.md.
/// </summary>
public sealed record PackManifest
{
    /// <summary>The schema version this code writes and the only one it reads.</summary>
    public const int CurrentSchemaVersion = 1;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>The forward pass's configuration (config.json fields).</summary>
    public required ModelConfig Architecture { get; init; }

    /// <summary>Name of the pack tensor holding the tokenizer.json bytes.</summary>
    public required string TokenizerTensor { get; init; }

    /// <summary>The quantization method's CLI name (<c>sage</c>, <c>rtn</c>, <c>f16</c>...).</summary>
    public required string Method { get; init; }

    /// <summary>The method's options as given; written sorted by key.</summary>
    public required IReadOnlyDictionary<string, string> MethodOptions { get; init; }

    public required PackFileRecord Pack { get; init; }

    /// <summary>One record per quantized linear, in the order they were written.</summary>
    public required IReadOnlyList<LinearRecord> Linears { get; init; }

    /// <summary>Every other tensor (embedding, norms, LM head, tokenizer), in the order they were written.</summary>
    public required IReadOnlyList<TensorRecord> Tensors { get; init; }

    /// <summary>The linear called <paramref name="name"/>, or null.</summary>
    public LinearRecord? FindLinear(string name) => Linears.FirstOrDefault(l => l.Name == name);

    /// <summary>The plain tensor called <paramref name="name"/>, or null.</summary>
    public TensorRecord? FindTensor(string name) => Tensors.FirstOrDefault(t => t.Name == name);
}

/// <summary>The pack file this manifest belongs to: its name, total size, payload-region size and XXH64 of the payload region.</summary>
public sealed record PackFileRecord(string FileName, long FileBytes, long PayloadBytes, ulong PayloadChecksum);

/// <summary>One section of a linear: its name in the layout, and where its bytes lie in the pack (absolute file offset).</summary>
public sealed record SectionRecord(string Name, long Offset, long Length);

/// <summary>
/// One quantized linear, as the manifest records it: shape [rows = out, cols = in], its layout and
/// parameters, where each section lies in the pack, the method's statistics, and its bit accounting
/// (DESIGN.md §3), which is derived from the sections and parameters so it cannot disagree with them.
/// </summary>
public sealed record LinearRecord(
    string Name, int? Layer, int Rows, int Cols, string Layout,
    IReadOnlyDictionary<string, int> Parameters,
    IReadOnlyList<SectionRecord> Sections,
    LinearStats Stats)
{
    public long WeightCount => (long)Rows * Cols;

    /// <summary>Every byte of this linear in the pack: all section bytes plus 4 per parameter.</summary>
    public long StoredBytes => Sections.Sum(s => s.Length) + 4L * Parameters.Count;

    public double StorageBitsPerWeight => 8.0 * StoredBytes / WeightCount;

    /// <summary>Bits per weight as the method's paper counts them (<see cref="LinearStats.PaperBitsPerWeight"/>).</summary>
    public double PaperBitsPerWeight => Stats.PaperBitsPerWeight;

    /// <summary>The decoder layer index parsed from a checkpoint name <c>model.layers.{i}....</c>; null for other linears (LM head, embedding).</summary>
    public static int? LayerOf(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int end = name.IndexOf('.', prefix.Length);
        return end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), System.Globalization.NumberStyles.None, null, out int layer)
            ? layer : null;
    }
}

/// <summary>A tensor that is not a quantized linear: its data type, shape, and where its bytes lie in the pack.</summary>
public sealed record TensorRecord(string Name, PackDataType DataType, IReadOnlyList<long> Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}
