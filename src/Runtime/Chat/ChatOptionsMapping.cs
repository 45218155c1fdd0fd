using Microsoft.Extensions.AI;
using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Chat;

/// <summary>What of a <see cref="ChatOptions"/> this runtime can honour, as <see cref="GenerationOptions"/>.</summary>
internal static class ChatOptionsMapping
{
    /// <summary>
    /// The settings for one reply: <paramref name="defaults"/>, overridden by what
    /// <paramref name="options"/> sets, with the format's stop sequences added. Without
    /// <see cref="ChatOptions.MaxOutputTokens"/> the reply is limited to the context that the
    /// prompt leaves, so a long conversation does not fail on the default limit.
    /// </summary>
    public static GenerationOptions ToGenerationOptions(ChatOptions? options, GenerationOptions defaults,
        IReadOnlyList<string> formatStops, int promptTokens, int contextLength)
    {
        var result = defaults with
        {
            MaxTokens = options?.MaxOutputTokens ?? Math.Clamp(contextLength - promptTokens, 0, defaults.MaxTokens),
            StopSequences = [.. defaults.StopSequences, .. formatStops, .. options?.StopSequences ?? []],
        };
        if (options is null) return result;
        return result with
        {
            Temperature = options.Temperature ?? result.Temperature,
            TopK = options.TopK ?? result.TopK,
            TopP = options.TopP ?? result.TopP,
            // A negative seed is still a seed: reinterpret the bits.
            Seed = options.Seed is long seed ? unchecked((ulong)seed) : result.Seed,
        };
    }

    public static ChatFinishReason ToChatFinishReason(FinishReason reason) =>
        reason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    public static UsageDetails ToUsage(GenerationSummary summary) => new()
    {
        InputTokenCount = summary.PromptTokenCount,
        OutputTokenCount = summary.GeneratedTokenCount,
        TotalTokenCount = summary.PromptTokenCount + summary.GeneratedTokenCount,
    };
}
