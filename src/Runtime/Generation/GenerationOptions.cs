namespace SagePtq.Runtime.Generation;

/// <summary>
/// How to pick each new token and when to stop. Every setting is checked when it is set, so an
/// invalid value fails where it is written, with <see cref="ArgumentOutOfRangeException"/>.
/// The sampling steps run in the order of the properties: repetition penalty, temperature,
/// top-k, top-p.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>New tokens to generate at most (EOS or the caller may stop earlier). Default 256.</summary>
    public int MaxTokens
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MaxTokens));
            field = value;
        }
    } = 256;

    /// <summary>
    /// Divides logits of tokens already in the prompt or the output (CTRL / Hugging Face rule:
    /// a positive logit is divided by the penalty, a negative one multiplied). 1 = off, the default.
    /// </summary>
    public float RepetitionPenalty
    {
        get;
        init => field = value > 0 && float.IsFinite(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), value, "must be positive (1 = off)");
    } = 1f;

    /// <summary>Logits are divided by this before softmax; 0 = greedy (always the most likely token). Default 0.8.</summary>
    public float Temperature
    {
        get;
        init => field = value >= 0 && float.IsFinite(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(Temperature), value, "must be zero (greedy) or positive");
    } = 0.8f;

    /// <summary>Sample only among the this many most likely tokens; 0 = off. Default 40.</summary>
    public int TopK
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(TopK));
            field = value;
        }
    } = 40;

    /// <summary>Nucleus sampling: keep the most likely tokens until their probabilities reach this; 1 = off. Default 0.95.</summary>
    public float TopP
    {
        get;
        init => field = value > 0 && value <= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(TopP), value, "must be in (0, 1] (1 = off)");
    } = 0.95f;

    /// <summary>Seed of the sampler's generator: the same seed gives the same tokens. Null (the default) = a random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Stop when the model emits one of the config's EOS ids (the EOS itself is not returned). Default true.</summary>
    public bool StopAtEos { get; init; } = true;

    /// <summary>Texts that end generation when they appear in the output; applied by the text-level API, not here.</summary>
    public IReadOnlyList<string> StopSequences
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(StopSequences));
    } = [];

    /// <summary>Always the most likely token, no randomness.</summary>
    public static GenerationOptions Greedy { get; } = new() { Temperature = 0 };
}
