using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Generation;

/// <summary>
/// The token-level generation loop: run the prompt in one batch, then sample a token, feed it
/// back, and repeat. Strings, stop sequences and streaming text are the text layer's job, on top.
/// </summary>
public static class TokenGenerator
{
    /// <summary>
    /// Generates up to <see cref="GenerationOptions.MaxTokens"/> token ids after
    /// <paramref name="promptIds"/>, lazily: each id is computed when the caller asks for it, so a
    /// caller stops generation simply by no longer enumerating (a stop sequence, a UI cancel).
    /// Ends early at an EOS id (not yielded) when <see cref="GenerationOptions.StopAtEos"/> is set.
    /// The model's cache is reset first.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty, or the prompt plus MaxTokens does not fit the model's positions (thrown at once, not on enumeration).</exception>
    public static IEnumerable<int> Generate(ICausalLanguageModel model, IReadOnlyList<int> promptIds,
        GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(promptIds);
        ArgumentNullException.ThrowIfNull(options);
        if (promptIds.Count == 0)
            throw new ArgumentException("the prompt needs at least one token (usually BOS)", nameof(promptIds));
        int positions = model.Config.MaxPositionEmbeddings;
        if ((long)promptIds.Count + options.MaxTokens > positions)
            throw new ArgumentException(
                $"a prompt of {promptIds.Count} tokens plus {options.MaxTokens} new tokens is longer than the model's {positions} positions", nameof(options));
        return Run(model, [.. promptIds], options, cancellationToken);
    }

    private static IEnumerable<int> Run(ICausalLanguageModel model, List<int> tokens, GenerationOptions options, CancellationToken cancellationToken)
    {
        var sampler = new Sampler(options);
        // Greedy with nothing else reading the logits: a model that can takes the argmax itself (no logits copied out).
        var greedy = options.Temperature == 0 && options.RepetitionPenalty == 1f ? model as IGreedyLanguageModel : null;
        var eos = options.StopAtEos ? model.Config.EosTokenIds.ToHashSet() : [];

        if (options.MaxTokens == 0) yield break;
        cancellationToken.ThrowIfCancellationRequested();
        model.Reset();
        int next = sampler.Sample(model.Prefill(CollectionsMarshal.AsSpan(tokens)), CollectionsMarshal.AsSpan(tokens));
        for (int generated = 0; generated < options.MaxTokens; generated++)
        {
            if (eos.Contains(next)) yield break;
            tokens.Add(next);
            yield return next;
            if (generated + 1 == options.MaxTokens) yield break;
            cancellationToken.ThrowIfCancellationRequested();
            next = greedy is not null
                ? greedy.ForwardGreedy(next, tokens.Count - 1)
                : sampler.Sample(model.Forward(next, tokens.Count - 1), CollectionsMarshal.AsSpan(tokens));
        }
    }
}
