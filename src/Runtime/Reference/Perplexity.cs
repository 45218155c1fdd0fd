using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Reference;

/// <summary>What <see cref="Perplexity.Evaluate"/> measured.</summary>
/// <param name="MeanNll">Mean next-token negative log-likelihood, in nats.</param>
/// <param name="Predictions">Next-token predictions scored: windows × (window length − 1).</param>
/// <param name="Windows">Windows evaluated.</param>
public sealed record PerplexityResult(double MeanNll, long Predictions, int Windows)
{
    /// <summary>exp(mean NLL).</summary>
    public double Perplexity => Math.Exp(MeanNll);
}

/// <summary>
/// The evaluation protocol of DESIGN.md §4: the token stream is cut into non-overlapping windows
/// (the remainder is dropped); each window runs from position 0 with an empty cache, and every
/// position but the last predicts the next token. Perplexity is exp of the mean NLL over all
/// predictions of all windows.
/// </summary>
public static class Perplexity
{
    public const int DefaultWindowLength = 1024;

    /// <param name="model">Any model; its cache is reset before each window.</param>
    /// <param name="tokens">The whole tokenized stream (documents already prefixed with BOS).</param>
    /// <param name="windowLength">Tokens per window, at most the model's positions.</param>
    /// <param name="maxWindows">Evaluate only the first windows (null: all).</param>
    /// <param name="progress">Told the index of each window when it is done.</param>
    /// <exception cref="ArgumentException">The stream is shorter than one window.</exception>
    public static PerplexityResult Evaluate(ICausalLanguageModel model, ReadOnlySpan<int> tokens,
        int windowLength = DefaultWindowLength, int? maxWindows = null,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(windowLength, model.Config.MaxPositionEmbeddings);
        if (maxWindows is { } max) ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max, nameof(maxWindows));
        int windows = Math.Min(tokens.Length / windowLength, maxWindows ?? int.MaxValue);
        if (windows == 0)
            throw new ArgumentException($"{tokens.Length} tokens do not fill one window of {windowLength}", nameof(tokens));

        int vocab = model.Config.VocabSize;
        var logits = new float[windowLength * vocab];
        double totalNll = 0;
        for (int w = 0; w < windows; w++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var window = tokens.Slice(w * windowLength, windowLength);
            model.Reset();
            model.Forward(window, 0, logits);
            for (int t = 0; t + 1 < windowLength; t++)
                totalNll += NegativeLogLikelihood(logits.AsSpan(t * vocab, vocab), window[t + 1]);
            progress?.Report(w);
        }
        long predictions = (long)windows * (windowLength - 1);
        return new PerplexityResult(totalNll / predictions, predictions, windows);
    }

    /// <summary>−log softmax(logits)[target] = logsumexp(logits) − logits[target], in double.</summary>
    internal static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in logits) sum += Math.Exp(v - max);
        return max + Math.Log(sum) - logits[target];
    }
}
