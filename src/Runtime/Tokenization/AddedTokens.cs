namespace SagePtq.Runtime.Tokenization;

/// <summary>One entry of tokenizer.json's <c>added_tokens</c>.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LeftStrip, bool RightStrip);

/// <summary>A piece of input text: either ordinary text (Start, Length) or an added token's id.</summary>
internal readonly record struct TextSegment(int Start, int Length, int TokenId)
{
    public bool IsToken => TokenId >= 0;
}

/// <summary>
/// Finds added tokens in raw text before normalization, as HF does: at each position the earliest,
/// then longest, match wins; <c>lstrip</c>/<c>rstrip</c> tokens also take the whitespace beside them.
/// Special tokens (BOS, EOS, unk) are matched only when asked: by default text such as "&lt;s&gt;" is
/// ordinary text, which is what SentencePiece (and so the reference ids) does.
/// </summary>
internal sealed class AddedTokens
{
    private readonly AddedToken[] _ordinary;
    private readonly AddedToken[] _all;

    public AddedTokens(IEnumerable<AddedToken> tokens)
    {
        // Longest first, so the first match found at a position is the longest one.
        _all = tokens.Where(t => t.Content.Length > 0).OrderByDescending(t => t.Content.Length).ToArray();
        _ordinary = _all.Where(t => !t.Special).ToArray();
    }

    public IReadOnlyList<AddedToken> All => _all;

    /// <summary>Cuts <paramref name="text"/> into ordinary text and added tokens, in order.</summary>
    public List<TextSegment> Split(string text, bool includeSpecial)
    {
        var candidates = includeSpecial ? _all : _ordinary;
        var segments = new List<TextSegment>();
        int textStart = 0, i = 0;
        while (candidates.Length > 0 && i < text.Length)
        {
            var match = candidates.FirstOrDefault(t => text.AsSpan(i).StartsWith(t.Content, StringComparison.Ordinal));
            if (match is null)
            {
                i++;
                continue;
            }
            int start = i, end = i + match.Content.Length;
            if (match.LeftStrip) while (start > textStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (match.RightStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (start > textStart) segments.Add(new TextSegment(textStart, start - textStart, -1));
            segments.Add(new TextSegment(start, end - start, match.Id));
            textStart = i = end;
        }
        if (textStart < text.Length) segments.Add(new TextSegment(textStart, text.Length - textStart, -1));
        return segments;
    }
}
