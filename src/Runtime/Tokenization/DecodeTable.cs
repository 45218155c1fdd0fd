namespace SagePtq.Runtime.Tokenization;

/// <summary>Per-id decoding facts, computed once per tokenizer: the piece's text, its byte, whether it is skipped.</summary>
internal sealed class DecodeTable
{
    public DecodeTable(string?[] pieces, ISet<int> skippedIds, PieceDecoding decoding)
    {
        Decoding = decoding;
        Texts = new string?[pieces.Length];
        Bytes = new short[pieces.Length];
        Skipped = new bool[pieces.Length];
        StartsWithSpace = new bool[pieces.Length];
        for (int id = 0; id < pieces.Length; id++)
        {
            var piece = pieces[id];
            Bytes[id] = -1;
            if (piece is null) continue;
            Skipped[id] = skippedIds.Contains(id);
            Bytes[id] = (short)decoding.ByteValue(piece);
            Texts[id] = decoding.PieceText(piece);
            StartsWithSpace[id] = Texts[id]!.StartsWith(' ');
        }
    }

    public PieceDecoding Decoding { get; }

    /// <summary>Decoded text of each id; null where no piece has that id.</summary>
    public string?[] Texts { get; }

    /// <summary>The byte of a &lt;0xNN&gt; piece, else -1.</summary>
    public short[] Bytes { get; }

    /// <summary>Special added tokens (BOS, EOS, unk): they decode to nothing.</summary>
    public bool[] Skipped { get; }

    public bool[] StartsWithSpace { get; }
}
