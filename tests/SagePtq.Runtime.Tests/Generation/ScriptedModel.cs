using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Tests.Generation;

/// <summary>
/// A stand-in language model whose logits are a function of the last token and position, and
/// which records how it is called: for testing generation and evaluation loops without weights.
/// </summary>
internal sealed class ScriptedModel(Func<int, int, float[]> logitsAfter, int vocab = 8, int maxPositions = 64) : ICausalLanguageModel
{
    public ModelConfig Config { get; } = new()
    {
        HiddenSize = 4, IntermediateSize = 8, NumLayers = 1, NumHeads = 1, NumKeyValueHeads = 1, HeadDim = 4,
        VocabSize = vocab, MaxPositionEmbeddings = maxPositions, RmsNormEps = 1e-5f, RopeTheta = 10000f,
        TieWordEmbeddings = false, EosTokenIds = [2],
    };

    public List<string> Calls { get; } = [];

    /// <summary>A model that always puts the most weight on <c>next(token)</c>.</summary>
    public static ScriptedModel Deterministic(Func<int, int> next, int vocab = 8, int maxPositions = 64) =>
        new((token, _) => Enumerable.Range(0, vocab).Select(id => id == next(token) ? 5f : 0f).ToArray(), vocab, maxPositions);

    public ReadOnlySpan<float> Forward(int token, int position)
    {
        Calls.Add($"forward {token}@{position}");
        return logitsAfter(token, position);
    }

    public void Forward(ReadOnlySpan<int> tokens, int startPosition, Span<float> logits)
    {
        Calls.Add($"batch {tokens.Length}@{startPosition} first {tokens[0]}");
        for (int t = 0; t < tokens.Length; t++)
            logitsAfter(tokens[t], startPosition + t).CopyTo(logits.Slice(t * Config.VocabSize, Config.VocabSize));
    }

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, int startPosition = 0)
    {
        Calls.Add($"prefill {tokens.Length}@{startPosition}");
        return logitsAfter(tokens[^1], startPosition + tokens.Length - 1);
    }

    public void Reset() => Calls.Add("reset");
}

/// <summary>A <see cref="ScriptedModel"/> that also picks greedy tokens itself, recording those calls apart.</summary>
internal sealed class ScriptedGreedyModel(ScriptedModel inner) : IGreedyLanguageModel
{
    public ModelConfig Config => inner.Config;

    public List<string> Calls => inner.Calls;

    public int ForwardGreedy(int token, int position)
    {
        Calls.Add($"greedy {token}@{position}");
        return Sampler.ArgMax(inner.Forward(token, position)[..]);
    }

    public ReadOnlySpan<float> Forward(int token, int position) => inner.Forward(token, position);

    public void Forward(ReadOnlySpan<int> tokens, int startPosition, Span<float> logits) => inner.Forward(tokens, startPosition, logits);

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, int startPosition = 0) => inner.Prefill(tokens, startPosition);

    public void Reset() => inner.Reset();
}
