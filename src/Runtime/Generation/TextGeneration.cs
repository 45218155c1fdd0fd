using SagePtq.Runtime.Tokenization;

namespace SagePtq.Runtime.Generation;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model emitted an end-of-sequence token.</summary>
    EndOfSequence,
    /// <summary><see cref="GenerationOptions.MaxTokens"/> tokens were generated.</summary>
    Length,
    /// <summary>One of <see cref="GenerationOptions.StopSequences"/> appeared (it is not part of the text).</summary>
    StopSequence,
}

/// <summary>
/// Text in, text out, one generation: the prompt is tokenized with BOS, <see cref="TokenGenerator"/>
/// produces ids, and the text is streamed in whole characters (a character split over several
/// byte tokens comes out once complete), ending at EOS, at the token limit or before a stop sequence.
/// The streamed text is the continuation only; <c>prompt + text</c> reads as the model wrote it.
/// </summary>
public sealed class TextGeneration
{
    private readonly ICausalLanguageModel _model;
    private readonly Tokenizer _tokenizer;
    private readonly GenerationOptions _options;
    private readonly List<int> _generated = [];
    private bool _started;

    /// <exception cref="ArgumentException">The prompt plus <see cref="GenerationOptions.MaxTokens"/> does not fit the model's positions.</exception>
    public TextGeneration(ICausalLanguageModel model, Tokenizer tokenizer, string prompt, GenerationOptions options)
    {
        _model = model;
        _tokenizer = tokenizer;
        _options = options;
        PromptIds = tokenizer.Encode(prompt, addBos: true);
        int positions = model.Config.MaxPositionEmbeddings;
        if (PromptIds.Count + (long)options.MaxTokens > positions)
            throw new ArgumentException(
                $"the prompt is {PromptIds.Count} tokens; with {options.MaxTokens} new tokens that is longer than the model's {positions} positions", nameof(prompt));
    }

    /// <summary>The prompt's ids, BOS first.</summary>
    public IReadOnlyList<int> PromptIds { get; }

    /// <summary>The ids generated so far (EOS excluded).</summary>
    public IReadOnlyList<int> GeneratedIds => _generated;

    /// <summary>Why generation ended; null while it runs.</summary>
    public FinishReason? FinishReason { get; private set; }

    /// <summary>Runs the generation, yielding text as soon as it is whole and cannot be part of a stop sequence. Enumerate once.</summary>
    public IEnumerable<string> Stream(CancellationToken cancellationToken = default)
    {
        if (_started) throw new InvalidOperationException("a TextGeneration runs once; create another for a new generation");
        _started = true;
        return Run(cancellationToken);
    }

    private IEnumerable<string> Run(CancellationToken cancellationToken)
    {
        var decoder = _tokenizer.CreateStreamingDecoder();
        // The prompt goes through the decoder first so that the first new token's leading space
        // is kept: it is stripped only at the very start of a text.
        foreach (int id in PromptIds) decoder.Append(id);
        var stops = new StopSequenceMatcher(_options.StopSequences);

        foreach (int id in TokenGenerator.Generate(_model, PromptIds, _options, cancellationToken))
        {
            _generated.Add(id);
            string ready = stops.Push(decoder.Append(id));
            if (ready.Length > 0) yield return ready;
            if (stops.Stopped)
            {
                FinishReason = Generation.FinishReason.StopSequence;
                yield break;
            }
        }
        string tail = stops.Push(decoder.Flush()) + stops.Finish();
        if (tail.Length > 0) yield return tail;
        FinishReason = stops.Stopped ? Generation.FinishReason.StopSequence
            : _generated.Count == _options.MaxTokens ? Generation.FinishReason.Length
            : Generation.FinishReason.EndOfSequence;
    }

    /// <summary>Generates and returns the whole continuation.</summary>
    public static string Generate(ICausalLanguageModel model, Tokenizer tokenizer, string prompt, GenerationOptions options,
        CancellationToken cancellationToken = default) =>
        string.Concat(new TextGeneration(model, tokenizer, prompt, options).Stream(cancellationToken));
}
