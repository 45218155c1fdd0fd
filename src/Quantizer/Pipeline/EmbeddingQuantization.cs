using SagePtq.Quantizer.Methods;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>
/// How the token embedding and the LM head are stored (<c>sageptq quantize --embeddings fp16|8|4</c>):
/// as FP16 float tensors (the default, DESIGN.md §3), or as round-to-nearest 8- or 4-bit codes on the
/// <c>uniform</c> layout, stored as linear records without a layer so that the bit report lists them
/// apart from the decoder linears. A tied model has one tensor for both, quantized once.
/// <para>
/// Both tensors are [vocab, hidden] and are grouped along the hidden dimension, <see cref="GroupSize"/>
/// values per group. For the LM head that is its reduction dimension, as for every decoder linear; for
/// the embedding a row is one token, so a lookup decodes one row with that row's own scales and
/// nothing else. 128 divides every LLaMA hidden size and costs (16 + b) / 128 bits per weight for the
/// FP16 scale and b-bit zero point: 0.19 bits at 8 bits (2.3 %) and 0.16 at 4 bits (3.9 %). Groups of
/// 64 double that and measured no better on sagelm-7m (test excerpt, 128-token windows, FP16 70.14:
/// 4-bit 72.12 with groups of 128, 72.36 with 64; 8-bit 70.12 and 70.19).
/// </para>
/// </summary>
public sealed class EmbeddingQuantization
{
    /// <summary>Hidden values per group (one FP16 scale and one zero point each).</summary>
    public const int GroupSize = 128;

    /// <summary>The values <see cref="Parse"/> accepts, as the CLI and the manifest write them.</summary>
    public static IReadOnlyList<string> Choices { get; } = ["fp16", "8", "4"];

    /// <summary>Keep both tensors as float tensors (FP16 in the pack).</summary>
    public static EmbeddingQuantization Fp16 { get; } = new(null);

    private EmbeddingQuantization(int? bits) => Bits = bits;

    /// <summary>The code width, or null when the tensors stay in floating point.</summary>
    public int? Bits { get; }

    /// <summary>The setting as the manifest records it (<c>embeddings=8</c>): "fp16", "8" or "4".</summary>
    public string Name => Bits?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "fp16";

    /// <summary>Reads "fp16", "8" or "4".</summary>
    /// <exception cref="ArgumentException">Any other value.</exception>
    public static EmbeddingQuantization Parse(string value) => value switch
    {
        "fp16" => Fp16,
        "8" => new EmbeddingQuantization(8),
        "4" => new EmbeddingQuantization(4),
        _ => throw new ArgumentException($"embeddings '{value}': expected one of {string.Join(", ", Choices)}", nameof(value)),
    };

    /// <summary>The checkpoint names this setting quantizes: the embedding, and the LM head unless it is tied to the embedding.</summary>
    public IReadOnlyList<string> TensorsOf(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (Bits is null) return [];
        return config.TieWordEmbeddings ? [LlamaTensors.Embedding] : [LlamaTensors.Embedding, LlamaTensors.LmHead];
    }

    /// <summary>Quantizes one [vocab, hidden] tensor with round-to-nearest, <see cref="GroupSize"/> hidden values per group.</summary>
    /// <exception cref="InvalidOperationException">This setting keeps the tensors in floating point.</exception>
    public QuantizedLinear Quantize(LinearTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        int bits = Bits ?? throw new InvalidOperationException("embeddings=fp16 stores float tensors; there is nothing to quantize");
        return new RoundToNearestQuantizer(bits, GroupSize).Quantize(target);
    }
}
