namespace SagePtq.Runtime.Tokenization;

/// <summary>How HF's Metaspace pre-tokenizer decides whether to prepend the replacement character.</summary>
internal enum PrependScheme
{
    /// <summary>To every piece of text between added tokens.</summary>
    Always,
    /// <summary>Only to the piece that starts the input.</summary>
    First,
    Never,
}

/// <summary>
/// The <c>pre_tokenizer</c> of a tokenizer.json: splits normalized text into the words that BPE encodes
/// independently. Null in tokenizer.json means the whole text is one word; Metaspace (the form newer
/// Llama converters write) turns spaces into "▁", may prepend one, and may split before each "▁".
/// </summary>
internal sealed class PreTokenizer
{
    private readonly bool _isMetaspace;
    private readonly char _replacement;
    private readonly PrependScheme _prependScheme;
    private readonly bool _split;

    private PreTokenizer(bool isMetaspace, char replacement, PrependScheme prependScheme, bool split)
    {
        _isMetaspace = isMetaspace;
        _replacement = replacement;
        _prependScheme = prependScheme;
        _split = split;
    }

    /// <summary>No pre-tokenizer: the normalized text is a single word.</summary>
    public static PreTokenizer WholeText { get; } = new(false, '\0', PrependScheme.Never, false);

    public static PreTokenizer Metaspace(char replacement, PrependScheme prependScheme, bool split) =>
        new(true, replacement, prependScheme, split);

    /// <summary>Appends the words of <paramref name="normalized"/> to <paramref name="words"/>.</summary>
    /// <param name="startsInput">Whether this text begins at offset 0 of the original input (for <see cref="PrependScheme.First"/>).</param>
    public void Split(string normalized, bool startsInput, List<string> words)
    {
        if (!_isMetaspace)
        {
            if (normalized.Length > 0) words.Add(normalized);
            return;
        }
        string text = normalized.Replace(' ', _replacement);
        bool prepend = _prependScheme == PrependScheme.Always || (_prependScheme == PrependScheme.First && startsInput);
        if (prepend && text.Length > 0 && text[0] != _replacement) text = _replacement + text;
        if (text.Length == 0) return;
        if (!_split)
        {
            words.Add(text);
            return;
        }
        // HF splits with the delimiter merged into the word that follows it: "a▁▁b" -> "a", "▁", "▁b".
        int start = 0;
        for (int i = 1; i < text.Length; i++)
        {
            if (text[i] != _replacement) continue;
            words.Add(text[start..i]);
            start = i;
        }
        words.Add(text[start..]);
    }
}
