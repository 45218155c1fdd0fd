using System.Collections.Concurrent;
using System.Text;

namespace SagePtq.Runtime.Tokenization;

/// <summary>
/// HF's BPE model: a word is split into characters (unknown ones into &lt;0xNN&gt; byte pieces when
/// <c>byte_fallback</c> is on, else the unk token, runs of which fuse when <c>fuse_unk</c> is on), then
/// adjacent pairs are merged lowest merge rank first (leftmost first on ties) until no pair has a merge.
/// Encoding is a linked list of symbols with a priority queue of candidate merges, and results are
/// cached per word.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>SentencePiece's word-boundary marker, U+2581.</summary>
    public const char SpaceMarker = '\u2581';

    private const int CacheLimit = 200_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, int> _singleRuneIds = new();
    private readonly Dictionary<long, long> _merges;        // (left id, right id) -> (rank, merged id)
    private readonly int[] _byteIds = new int[256];         // -1 where the <0xNN> piece is absent
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    private int _cacheSize;

    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(int Left, int Right, int Merged)> merges,
        int unkId, bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _vocab = vocab;
        UnkId = unkId;
        FuseUnk = fuseUnk;
        ByteFallback = byteFallback;
        IgnoreMerges = ignoreMerges;
        _merges = new Dictionary<long, long>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right, merged) = merges[rank];
            // A pair listed twice keeps its last rank, as HF's map construction does.
            _merges[PairKey(left, right)] = ((long)rank << 32) | (uint)merged;
        }
        foreach (var (piece, id) in vocab)
        {
            if (Rune.DecodeFromUtf16(piece, out var rune, out int used) == System.Buffers.OperationStatus.Done && used == piece.Length)
                _singleRuneIds[rune.Value] = id;
        }
        for (int b = 0; b < 256; b++)
            _byteIds[b] = vocab.TryGetValue(BytePiece((byte)b), out int id) ? id : -1;
        CanSplitAtSpaceMarker = ComputeCanSplitAtSpaceMarker(vocab);
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int UnkId { get; }
    public bool FuseUnk { get; }
    public bool ByteFallback { get; }
    public bool IgnoreMerges { get; }
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>
    /// True when no merge can join a symbol ending in a non-"▁" character to a symbol starting with "▁"
    /// (no vocabulary piece has "▁" right after another character, and "▁" itself is known). Then a word
    /// can be cut before every "▁" that follows another character and each part encoded alone with the
    /// same result: that is what makes the per-word cache useful when there is no pre-tokenizer.
    /// </summary>
    public bool CanSplitAtSpaceMarker { get; }

    /// <summary>The piece name HF's byte fallback looks up for one byte: "&lt;0x0A&gt;".</summary>
    public static string BytePiece(byte value) => $"<0x{value:X2}>";

    /// <summary>(rank, merged id) of the merge of this pair, or false when the pair never merges.</summary>
    public bool TryGetMerge(int left, int right, out int rank, out int merged)
    {
        if (_merges.TryGetValue(PairKey(left, right), out long packed))
        {
            rank = (int)(packed >> 32);
            merged = (int)(uint)packed;
            return true;
        }
        rank = merged = 0;
        return false;
    }

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void Encode(string word, List<int> ids)
    {
        if (!CanSplitAtSpaceMarker)
        {
            EncodeCached(word, ids);
            return;
        }
        int start = 0;
        for (int i = 1; i < word.Length; i++)
        {
            if (word[i] == SpaceMarker && word[i - 1] != SpaceMarker)
            {
                EncodeCached(word.AsSpan(start, i - start), ids);
                start = i;
            }
        }
        EncodeCached(word.AsSpan(start), ids);
    }

    private void EncodeCached(ReadOnlySpan<char> word, List<int> ids)
    {
        if (word.IsEmpty) return;
        if (!_cacheBySpan.TryGetValue(word, out var cached))
        {
            cached = EncodeUncached(word);
            // ConcurrentDictionary.Count takes every lock, so the size is tracked here (approximately under races).
            if (Interlocked.Increment(ref _cacheSize) > CacheLimit)
            {
                _cache.Clear();
                Interlocked.Exchange(ref _cacheSize, 0);
            }
            _cacheBySpan.TryAdd(word, cached);
        }
        ids.AddRange(cached);
    }

    /// <summary>Encodes one word without the cache or the "▁" split (the tests' reference path).</summary>
    internal int[] EncodeUncached(ReadOnlySpan<char> word)
    {
        if (IgnoreMerges && _vocab.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(word, out int whole))
            return [whole];
        var symbols = InitialSymbols(word);
        return MergeAll(symbols);
    }

    /// <summary>The ids a word starts from: one per character, byte pieces or unk for unknown characters.</summary>
    internal List<int> InitialSymbols(ReadOnlySpan<char> word)
    {
        var symbols = new List<int>(word.Length);
        Span<byte> utf8 = stackalloc byte[4];
        bool lastWasUnk = false;
        foreach (var rune in word.EnumerateRunes())
        {
            if (_singleRuneIds.TryGetValue(rune.Value, out int id))
            {
                symbols.Add(id);
                lastWasUnk = false;
                continue;
            }
            if (ByteFallback)
            {
                int count = rune.EncodeToUtf8(utf8);
                bool allKnown = true;
                for (int k = 0; k < count; k++) allKnown &= _byteIds[utf8[k]] >= 0;
                if (allKnown)
                {
                    for (int k = 0; k < count; k++) symbols.Add(_byteIds[utf8[k]]);
                    lastWasUnk = false;
                    continue;
                }
            }
            if (UnkId < 0)
                throw new ArgumentException($"The text contains U+{rune.Value:X4}, which this tokenizer cannot represent: it has no unk token.");
            if (!(FuseUnk && lastWasUnk)) symbols.Add(UnkId);
            lastWasUnk = true;
        }
        return symbols;
    }

    private int[] MergeAll(List<int> initial)
    {
        int n = initial.Count;
        if (n < 2) return initial.ToArray();
        var id = initial.ToArray();
        var prev = new int[n];
        var next = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            alive[i] = true;
        }
        // Priority: rank in the high half, position in the low half, so ties go to the leftmost pair.
        var queue = new PriorityQueue<int, long>();
        for (int i = 0; i + 1 < n; i++)
            if (TryGetMerge(id[i], id[i + 1], out int rank, out _)) queue.Enqueue(i, ((long)rank << 32) | (uint)i);

        while (queue.TryDequeue(out int pos, out long priority))
        {
            if (!alive[pos] || next[pos] < 0) continue;
            int right = next[pos];
            // A stale entry: the pair at pos has changed since it was queued. A changed pair always has
            // a longer combined text, hence a different rank, so comparing ranks is enough.
            if (!TryGetMerge(id[pos], id[right], out int rank, out int merged) || rank != (int)(priority >> 32)) continue;
            id[pos] = merged;
            alive[right] = false;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0 && TryGetMerge(id[prev[pos]], id[pos], out int leftRank, out _))
                queue.Enqueue(prev[pos], ((long)leftRank << 32) | (uint)prev[pos]);
            if (next[pos] >= 0 && TryGetMerge(id[pos], id[next[pos]], out int rightRank, out _))
                queue.Enqueue(pos, ((long)rightRank << 32) | (uint)pos);
        }

        var result = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i]) result.Add(id[i]);
        return result.ToArray();
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    private static bool ComputeCanSplitAtSpaceMarker(Dictionary<string, int> vocab)
    {
        if (!vocab.ContainsKey(SpaceMarker.ToString())) return false;
        foreach (var piece in vocab.Keys)
            for (int i = 1; i < piece.Length; i++)
                if (piece[i] == SpaceMarker && piece[i - 1] != SpaceMarker) return false;
        return true;
    }
}
