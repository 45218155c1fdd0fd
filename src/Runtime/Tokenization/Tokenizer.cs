namespace SagePtq.Runtime.Tokenization;

/// <summary>
/// A Hugging Face tokenizer.json with a BPE model (the Llama / SentencePiece-converted form), read and
/// run by the project's own code. Encoding gives the ids SentencePiece gives for the same model:
/// added tokens are cut out first, each remaining piece of text is normalized ("▁" for spaces and a
/// leading "▁"), pre-tokenized and BPE-encoded with byte fallback. Thread-safe once loaded.
/// </summary>
public sealed class Tokenizer
{
    private readonly TokenizerParts _parts;
    private readonly DecodeTable _decodeTable;

    private Tokenizer(TokenizerParts parts)
    {
        _parts = parts;
        var specialIds = parts.AddedTokens.All.Where(t => t.Special).Select(t => t.Id).ToHashSet();
        _decodeTable = new DecodeTable(parts.Pieces, specialIds, parts.Decoding);
    }

    /// <summary>Reads a tokenizer.json file.</summary>
    /// <exception cref="ModelFileException">The file is missing, is not valid JSON, or uses a form this tokenizer does not support.</exception>
    public static Tokenizer Load(string tokenizerJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerJsonPath);
        string json;
        try
        {
            json = File.ReadAllText(tokenizerJsonPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(tokenizerJsonPath,
                e is FileNotFoundException or DirectoryNotFoundException ? "file not found" : $"cannot be read ({e.Message})", e);
        }
        return Parse(json, tokenizerJsonPath);
    }

    /// <summary>Builds a tokenizer from tokenizer.json text; <paramref name="sourcePath"/> names it in errors.</summary>
    /// <exception cref="ModelFileException">The text is not valid JSON or uses a form this tokenizer does not support.</exception>
    public static Tokenizer Parse(string json, string sourcePath)
    {
        ArgumentNullException.ThrowIfNull(json);
        return new Tokenizer(TokenizerJson.Parse(json, sourcePath));
    }

    /// <summary>Number of ids: one more than the largest id of a piece or added token.</summary>
    public int VocabSize => _parts.Pieces.Length;

    /// <summary>The id prepended by <c>addBos</c> (from the post-processor's template, else "&lt;s&gt;"); -1 if none.</summary>
    public int BosId => _parts.BosId;

    /// <summary>The id of "&lt;/s&gt;"; -1 if none.</summary>
    public int EosId => _parts.EosId;

    /// <summary>The id of the model's unk token; -1 if none.</summary>
    public int UnkId => _parts.Model.UnkId;

    /// <summary>Encodes text as SentencePiece does: special tokens written in the text are ordinary text.</summary>
    public int[] Encode(string text, bool addBos) => Encode(text, addBos, parseSpecialTokens: false);

    /// <summary>
    /// Encodes text; with <paramref name="parseSpecialTokens"/>, special tokens written in it ("&lt;s&gt;")
    /// become their ids, as HF's tokenizers library does by default.
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="addBos"/> and the tokenizer has no BOS token.</exception>
    public int[] Encode(string text, bool addBos, bool parseSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos)
        {
            if (BosId < 0) throw new InvalidOperationException("This tokenizer has no BOS token.");
            ids.Add(BosId);
        }
        var words = new List<string>();
        foreach (var segment in _parts.AddedTokens.Split(text, parseSpecialTokens))
        {
            if (segment.IsToken)
            {
                ids.Add(segment.TokenId);
                continue;
            }
            string normalized = _parts.Normalizer.Apply(text.Substring(segment.Start, segment.Length));
            words.Clear();
            _parts.PreTokenizer.Split(normalized, startsInput: segment.Start == 0, words);
            foreach (var word in words) _parts.Model.Encode(word, ids);
        }
        return ids.ToArray();
    }

    /// <summary>
    /// Decodes ids to text: special tokens (BOS, EOS, unk) are skipped, "▁" becomes a space, byte pieces
    /// become UTF-8 text (malformed bytes U+FFFD), and the leading space of the text is removed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var decoder = CreateStreamingDecoder();
        var text = new System.Text.StringBuilder();
        foreach (int id in ids) text.Append(decoder.Append(id));
        return text.Append(decoder.Flush()).ToString();
    }

    /// <summary>The raw piece of an id as the vocabulary spells it ("▁the", "&lt;0x0A&gt;", "&lt;s&gt;").</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is not in the vocabulary.</exception>
    public string TokenToPiece(int id)
    {
        if ((uint)id >= (uint)_parts.Pieces.Length || _parts.Pieces[id] is null)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is not in the vocabulary ({VocabSize} ids).");
        return _parts.Pieces[id]!;
    }

    /// <summary>A decoder for one stream of ids; see <see cref="StreamingDecoder"/>.</summary>
    public StreamingDecoder CreateStreamingDecoder() => new(_decodeTable);

    internal BpeModel Model => _parts.Model;
}
