namespace SagePtq.Runtime.Tokenization;

/// <summary>
/// What the <c>decoder</c> of a tokenizer.json does to pieces, reduced to the forms Llama tokenizers use:
/// literal replacements inside each piece ("▁" → " "), byte fallback (&lt;0xNN&gt; pieces become bytes,
/// joined into UTF-8 text), and removal of leading characters from the start of the whole text, either
/// HF's Strip after Fuse (up to N copies of a character) or the Metaspace decoder (one "▁" at the start of
/// the first piece). Precomputed per id so that decoding is a table lookup.
/// </summary>
internal sealed class PieceDecoding
{
    public PieceDecoding(IReadOnlyList<(string From, string To)> replacements, bool byteFallback,
        char stripChar, int stripCount, bool stripFirstPieceSpace)
    {
        Replacements = replacements;
        ByteFallback = byteFallback;
        StripChar = stripChar;
        StripCount = stripCount;
        StripFirstPieceSpace = stripFirstPieceSpace;
    }

    public IReadOnlyList<(string From, string To)> Replacements { get; }
    public bool ByteFallback { get; }

    /// <summary>Up to <see cref="StripCount"/> copies of this character are removed from the start of the decoded text.</summary>
    public char StripChar { get; }
    public int StripCount { get; }

    /// <summary>Metaspace decoder: the first decoded piece loses one leading space (the prepended "▁").</summary>
    public bool StripFirstPieceSpace { get; }

    /// <summary>Text of an ordinary piece after the replacements.</summary>
    public string PieceText(string piece)
    {
        foreach (var (from, to) in Replacements) piece = piece.Replace(from, to, StringComparison.Ordinal);
        return piece;
    }

    /// <summary>The byte a &lt;0xNN&gt; piece stands for, or -1 (also when byte fallback is off).</summary>
    public int ByteValue(string piece)
    {
        if (!ByteFallback || piece.Length != 6 || !piece.StartsWith("<0x", StringComparison.Ordinal) || piece[5] != '>')
            return -1;
        return byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte value)
            ? value : -1;
    }
}
