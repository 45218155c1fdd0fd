using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Generation;

/// <summary>
/// A decoder-only language model with a key/value cache: what generation and evaluation need,
/// whatever the weights are (FP32 reference, dequantized, packed 1-bit kernels). Positions must be
/// fed in order: a call may start at any position up to the number already cached (starting
/// earlier overwrites the cache from there), never beyond it.
/// </summary>
public interface ICausalLanguageModel
{
    ModelConfig Config { get; }

    /// <summary>Runs one token at <paramref name="position"/> and returns the logits for the next one.</summary>
    /// <returns>[vocab] logits, valid until the next call on this model.</returns>
    ReadOnlySpan<float> Forward(int token, int position);

    /// <summary>
    /// Runs a run of tokens at positions <paramref name="startPosition"/>.. in one batch and writes
    /// the logits of every position to <paramref name="logits"/> ([tokens × vocab], row-major).
    /// Same results as calling <see cref="Forward(int,int)"/> on each token in turn.
    /// </summary>
    void Forward(ReadOnlySpan<int> tokens, int startPosition, Span<float> logits);

    /// <summary>Runs a prompt in one batch and returns only the logits after its last token.</summary>
    /// <returns>[vocab] logits, valid until the next call on this model.</returns>
    ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, int startPosition = 0);

    /// <summary>Forgets the cached positions, to start a new sequence.</summary>
    void Reset();
}
