namespace SagePtq.Runtime;

public sealed partial class LanguageModel
{
    /// <summary>
    /// Runs <paramref name="tokens"/> through the model as a new sequence (positions 0..n−1; the cache
    /// of any earlier generation is discarded) and returns the logits of the last position, one per
    /// vocabulary entry. Waits for a running generation like the other calls.
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, more than <see cref="ContextLength"/>, or an id outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">This instance was disposed.</exception>
    public float[] Forward(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("at least one token is needed", nameof(tokens));
        if (tokens.Length > ContextLength)
            throw new ArgumentException($"{tokens.Length} tokens are more than the context of {ContextLength}", nameof(tokens));
        foreach (int token in tokens)
            if ((uint)token >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"token id outside the vocabulary 0..{Config.VocabSize - 1}");
        Enter(_disposing.Token, CancellationToken.None);
        try
        {
            _model.Reset();
            return _model.Prefill(tokens, 0).ToArray();
        }
        finally
        {
            Exit();
        }
    }
}
