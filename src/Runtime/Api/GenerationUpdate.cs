using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime;

/// <summary>
/// One step of a streamed generation. Every update but the last carries a non-empty piece of text
/// (whole characters); the last carries empty text and the <see cref="Summary"/> of the generation.
/// </summary>
/// <param name="Text">The next piece of the continuation; empty on the final update.</param>
/// <param name="Summary">How the generation ended; set on the final update only.</param>
public readonly record struct GenerationUpdate(string Text, GenerationSummary? Summary);

/// <summary>What a finished generation did.</summary>
/// <param name="PromptTokenCount">Tokens in the prompt, BOS included.</param>
/// <param name="GeneratedIds">The generated token ids (EOS excluded; tokens of a stop sequence included, since they were generated).</param>
/// <param name="FinishReason">Why it ended: EOS, the token limit, or a stop sequence.</param>
public sealed record GenerationSummary(int PromptTokenCount, IReadOnlyList<int> GeneratedIds, FinishReason FinishReason)
{
    /// <summary>The number of generated tokens.</summary>
    public int GeneratedTokenCount => GeneratedIds.Count;
}
