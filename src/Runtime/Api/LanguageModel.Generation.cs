using System.Runtime.CompilerServices;
using System.Text;
using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime;

public sealed partial class LanguageModel
{
    /// <summary>
    /// The settings used when a call passes none: <c>new GenerationOptions()</c>, that is sampling
    /// at temperature 0.8 with top-k 40 and top-p 0.95, a random seed, up to 256 new tokens,
    /// stopping at EOS. Pass <see cref="GenerationOptions.Greedy"/> for reproducible text.
    /// </summary>
    public static GenerationOptions DefaultOptions { get; } = new();

    /// <summary>Generates a continuation of <paramref name="prompt"/> on the calling thread and returns it whole.</summary>
    /// <param name="prompt">The text to continue (BOS is added).</param>
    /// <param name="options">Sampling and stopping; null = <see cref="DefaultOptions"/>.</param>
    /// <param name="cancellationToken">Stops the generation before its next token.</param>
    /// <returns>The continuation only, without the prompt and without a stop sequence that ended it.</returns>
    /// <exception cref="ArgumentException">The prompt plus <see cref="GenerationOptions.MaxTokens"/> is longer than <see cref="ContextLength"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">This instance was disposed, before or during the call.</exception>
    public string Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        foreach (var update in Stream(prompt, options, cancellationToken)) text.Append(update.Text);
        return text.ToString();
    }

    /// <summary>
    /// Streams a continuation of <paramref name="prompt"/> in whole characters, computing it off the
    /// caller's thread, so an async caller (a UI, a server) is never blocked by the forward pass.
    /// The pieces concatenate to what <see cref="Generate"/> returns for the same options and seed.
    /// </summary>
    /// <inheritdoc cref="Generate" path="/param"/>
    /// <inheritdoc cref="Generate" path="/exception"/>
    public IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        TextOf(StreamAsync(prompt, options, cancellationToken));

    private static async IAsyncEnumerable<string> TextOf(IAsyncEnumerable<GenerationUpdate> updates,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var update in updates.WithCancellation(cancellationToken).ConfigureAwait(false))
            if (update.Text.Length > 0) yield return update.Text;
    }

    /// <summary>
    /// Streams a continuation on the calling thread: text updates as they become whole, then a
    /// final update with the <see cref="GenerationSummary"/> (token counts, ids, why it ended).
    /// The prompt is checked at once; the model is taken when enumeration starts.
    /// </summary>
    /// <inheritdoc cref="Generate" path="/param"/>
    /// <inheritdoc cref="Generate" path="/exception"/>
    public IEnumerable<GenerationUpdate> Stream(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        RunLocked(Prepare(prompt, options), cancellationToken);

    /// <summary>
    /// Streams a continuation computed off the caller's thread: text updates as they become whole,
    /// then a final update with the <see cref="GenerationSummary"/>. The prompt is checked at once;
    /// the model is taken (awaiting a running generation) when enumeration starts.
    /// </summary>
    /// <inheritdoc cref="Generate" path="/param"/>
    /// <inheritdoc cref="Generate" path="/exception"/>
    public IAsyncEnumerable<GenerationUpdate> StreamAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        RunLockedAsync(Prepare(prompt, options), cancellationToken);

    /// <summary>Checks the arguments and tokenizes the prompt, before anything waits or runs.</summary>
    private TextGeneration Prepare(string prompt, GenerationOptions? options)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return new TextGeneration(_model, Tokenizer, prompt, options ?? DefaultOptions);
    }

    private IEnumerable<GenerationUpdate> RunLocked(TextGeneration generation, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        Enter(linked.Token, cancellationToken);
        try
        {
            using var updates = Updates(generation, linked.Token).GetEnumerator();
            while (true)
            {
                try
                {
                    if (!updates.MoveNext()) yield break;
                }
                catch (OperationCanceledException) when (DisposedNotCancelled(cancellationToken)) { throw Disposed(); }
                yield return updates.Current;
            }
        }
        finally
        {
            Exit();
        }
    }

    private async IAsyncEnumerable<GenerationUpdate> RunLockedAsync(TextGeneration generation, CancellationToken cancellationToken,
        [EnumeratorCancellation] CancellationToken enumeratorCancellation = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, enumeratorCancellation, _disposing.Token);
        await EnterAsync(linked.Token, cancellationToken, enumeratorCancellation).ConfigureAwait(false);
        try
        {
            using var updates = Updates(generation, linked.Token).GetEnumerator();
            while (true)
            {
                // Each step (one or a few tokens) runs as its own thread-pool work item: no thread
                // is parked for the whole generation, nothing is computed ahead of the consumer (it
                // stops exactly when the consumer stops), and no channel is needed. One pool hop per
                // token costs microseconds against a forward pass of milliseconds.
                bool more;
                try
                {
                    more = await Task.Run(() => updates.MoveNext(), CancellationToken.None).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (DisposedNotCancelled(cancellationToken, enumeratorCancellation)) { throw Disposed(); }
                if (!more) yield break;
                yield return updates.Current;
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>The text pieces, then the summary; runs while the caller holds the model.</summary>
    private static IEnumerable<GenerationUpdate> Updates(TextGeneration generation, CancellationToken cancellationToken)
    {
        foreach (string text in generation.Stream(cancellationToken)) yield return new GenerationUpdate(text, null);
        yield return new GenerationUpdate("", new GenerationSummary(generation.PromptIds.Count, [.. generation.GeneratedIds],
            generation.FinishReason ?? throw new InvalidOperationException("the generation ended without a reason")));
    }
}
