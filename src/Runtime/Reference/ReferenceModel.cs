using System.Buffers;
using System.Numerics.Tensors;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Reference;

/// <summary>
/// The FP32 LLaMA forward pass that every faster or quantized kernel is checked against, written
/// to be read from top to bottom. One code path serves a single decoding step and a whole
/// 1024-token evaluation window: activations are [tokens × width] matrices, the linears are
/// <see cref="Gemm"/> calls, and attention reads the key/value cache, so running tokens one at
/// a time or all at once gives the same logits. Not thread-safe: one sequence at a time.
/// </summary>
public sealed class ReferenceModel : ICausalLanguageModel
{
    /// <summary>Queries per attention work item: a head's block of queries and the keys it can see.</summary>
    private const int AttentionQueryBlock = 64;

    /// <summary>LM-head rows computed per batch, to bound the scratch buffer for long windows.</summary>
    private const int LogitRowBlock = 128;

    private readonly LlamaWeights _weights;
    private readonly KeyValueCache _cache;
    private readonly RotaryEmbedding _rope;
    private readonly float[] _nextLogits;
    private Activations? _act;
    private float[] _logitBlock = [];

    public ReferenceModel(LlamaWeights weights)
    {
        _weights = weights;
        _cache = new KeyValueCache(weights.Config);
        _rope = new RotaryEmbedding(Config.HeadDim, Config.MaxPositionEmbeddings, Config.RopeTheta);
        _nextLogits = new float[Config.VocabSize];
    }

    /// <summary>Opens a checkpoint folder and reads its weights into memory.</summary>
    public static ReferenceModel Load(string checkpointDirectory)
    {
        using var checkpoint = Checkpoint.Open(checkpointDirectory);
        return new ReferenceModel(LlamaWeights.FromCheckpoint(checkpoint));
    }

    public ModelConfig Config => _weights.Config;

    /// <summary>How many positions (from 0) the cache currently holds.</summary>
    public int CachedPositions { get; private set; }

    public void Reset() => CachedPositions = 0;

    public ReadOnlySpan<float> Forward(int token, int position)
    {
        RunDecoder([token], position);
        ProjectToVocabulary(0, 1, _nextLogits);
        return _nextLogits;
    }

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, int startPosition = 0)
    {
        if (tokens.IsEmpty) throw new ArgumentException("at least one token is needed", nameof(tokens));
        RunDecoder(tokens, startPosition);
        ProjectToVocabulary(tokens.Length - 1, 1, _nextLogits);
        return _nextLogits;
    }

    public void Forward(ReadOnlySpan<int> tokens, int startPosition, Span<float> logits)
    {
        int vocab = Config.VocabSize;
        if (logits.Length != tokens.Length * vocab)
            throw new ArgumentException($"logits holds {logits.Length} floats, {tokens.Length} tokens × {vocab} are needed", nameof(logits));
        RunDecoder(tokens, startPosition);
        for (int first = 0; first < tokens.Length; first += LogitRowBlock)
        {
            int count = Math.Min(LogitRowBlock, tokens.Length - first);
            ProjectToVocabulary(first, count, logits.Slice(first * vocab, count * vocab));
        }
    }

    /// <summary>
    /// Runs the embedding and every decoder layer over <paramref name="tokens"/> at positions
    /// <paramref name="start"/>.., filling the cache, and leaves the final-normed hidden states in
    /// <c>_act.Normed</c>.
    /// </summary>
    private void RunDecoder(ReadOnlySpan<int> tokens, int start)
    {
        var c = Config;
        CheckInput(tokens, start);
        int n = tokens.Length;
        if (_act is null || _act.Capacity < n) _act = new Activations(n, c);
        MatrixView x = _act.X(n);

        // Embedding: x = embed_tokens(tokens)
        for (int t = 0; t < n; t++)
            _weights.Embedding.AsSpan(tokens[t] * c.HiddenSize, c.HiddenSize).CopyTo(x.Row(t));

        for (int layer = 0; layer < c.NumLayers; layer++) RunLayer(layer, start, n, observer: null);

        // Final norm: h = model.norm(x); the LM head is applied by the caller to the rows it needs.
        RmsNormRows(x, _weights.FinalNorm, _act.Normed(n));
        CachedPositions = start + n;
    }

    /// <summary>
    /// Runs decoder layer <paramref name="layer"/> alone over one sequence's hidden states
    /// (<paramref name="hidden"/>: tokens × hidden, positions 0..), in place, and shows each linear's
    /// input to <paramref name="observer"/>. Calibration walks the model this way, one layer at a
    /// time, so that a layer's inputs come from the already-quantized layers before it. Uses (and
    /// overwrites) this layer's part of the cache; run <see cref="Reset"/> before generating again.
    /// </summary>
    public void RunLayer(int layer, Span<float> hidden, ILinearInputObserver? observer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, Config.NumLayers);
        int width = Config.HiddenSize;
        if (hidden.IsEmpty || hidden.Length % width != 0)
            throw new ArgumentException($"hidden holds {hidden.Length} floats, not a whole number of {width}-wide rows", nameof(hidden));
        int n = hidden.Length / width;
        if (n > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"{n} positions go past the model's {Config.MaxPositionEmbeddings}", nameof(hidden));
        if (_act is null || _act.Capacity < n) _act = new Activations(n, Config);
        hidden.CopyTo(_act.X(n).Data);
        RunLayer(layer, start: 0, n, observer);
        _act.X(n).Data.AsSpan(0, hidden.Length).CopyTo(hidden);
        CachedPositions = 0;
    }

    /// <summary>Writes the token embeddings of <paramref name="tokens"/> into <paramref name="hidden"/> (tokens × hidden).</summary>
    public void Embed(ReadOnlySpan<int> tokens, Span<float> hidden)
    {
        int width = Config.HiddenSize;
        if (hidden.Length != tokens.Length * width)
            throw new ArgumentException($"hidden holds {hidden.Length} floats, {tokens.Length} tokens × {width} are needed", nameof(hidden));
        CheckInput(tokens, 0);
        for (int t = 0; t < tokens.Length; t++)
            _weights.Embedding.AsSpan(tokens[t] * width, width).CopyTo(hidden.Slice(t * width, width));
    }

    /// <summary>
    /// Decoder layer <paramref name="layer"/> over the <paramref name="n"/> hidden states in <c>_act.X</c>
    /// (positions <paramref name="start"/>..), in place: attention then MLP, each with its residual.
    /// </summary>
    private void RunLayer(int layer, int start, int n, ILinearInputObserver? observer)
    {
        var c = Config;
        var act = _act!;
        MatrixView x = act.X(n), normed = act.Normed(n), q = act.Query(n), v = act.Value(n),
            attended = act.Attended(n), gate = act.Gate(n), up = act.Up(n), residual = act.Residual(n);
        var w = _weights.Layers[layer];

        // Attention block: h = input_layernorm(x)
        RmsNormRows(x, w.AttentionNorm, normed);

        // q = q_proj(h), k = k_proj(h), v = v_proj(h); keys go straight into the cache.
        var keys = _cache.KeyRows(layer, start, n);
        observer?.Observe(layer, LinearInputKind.AttentionInput, normed.Data.AsSpan(0, n * c.HiddenSize), n);
        Gemm.MultiplyTransposed(normed, Linear(w.Query, c.QueryDim, c.HiddenSize), q);
        Gemm.MultiplyTransposed(normed, Linear(w.Key, c.KeyValueDim, c.HiddenSize), keys);
        Gemm.MultiplyTransposed(normed, Linear(w.Value, c.KeyValueDim, c.HiddenSize), v);

        // Rotary position embedding of every query and key head: q, k = apply_rotary_pos_emb(q, k, cos, sin)
        for (int t = 0; t < n; t++)
        {
            for (int head = 0; head < c.NumHeads; head++)
                _rope.Apply(q.Row(t).Slice(head * c.HeadDim, c.HeadDim), start + t);
            for (int head = 0; head < c.NumKeyValueHeads; head++)
                _rope.Apply(keys.Row(t).Slice(head * c.HeadDim, c.HeadDim), start + t);
        }
        _cache.StoreValues(layer, v, start);

        // attended = softmax(q · kᵀ / sqrt(headDim) + causal mask) · v, per head
        Attend(layer, q, start, attended);

        // x = x + o_proj(attended)
        observer?.Observe(layer, LinearInputKind.AttentionOutput, attended.Data.AsSpan(0, n * c.QueryDim), n);
        Gemm.MultiplyTransposed(attended, Linear(w.Output, c.HiddenSize, c.QueryDim), residual);
        AddRows(x, residual);

        // MLP block: h = post_attention_layernorm(x); x = x + down_proj(silu(gate_proj(h)) * up_proj(h))
        RmsNormRows(x, w.MlpNorm, normed);
        observer?.Observe(layer, LinearInputKind.MlpInput, normed.Data.AsSpan(0, n * c.HiddenSize), n);
        Gemm.MultiplyTransposed(normed, Linear(w.Gate, c.IntermediateSize, c.HiddenSize), gate);
        Gemm.MultiplyTransposed(normed, Linear(w.Up, c.IntermediateSize, c.HiddenSize), up);
        for (int t = 0; t < n; t++) FastOps.SwiGlu(gate.Row(t), up.Row(t));
        observer?.Observe(layer, LinearInputKind.MlpHidden, gate.Data.AsSpan(0, n * c.IntermediateSize), n);
        Gemm.MultiplyTransposed(gate, Linear(w.Down, c.HiddenSize, c.IntermediateSize), residual);
        AddRows(x, residual);
    }

    /// <summary>
    /// Causal self-attention of <paramref name="q"/> (tokens at positions <paramref name="start"/>..)
    /// over the cached keys and values. Work items are (head, block of 64 queries); a block sees
    /// only the keys up to its last query, so the upper triangle is mostly never computed.
    /// </summary>
    private void Attend(int layer, MatrixView q, int start, MatrixView attended)
    {
        var c = Config;
        int queriesPerKeyHead = c.NumHeads / c.NumKeyValueHeads; // GQA: query heads sharing one KV head
        float scale = 1f / MathF.Sqrt(c.HeadDim);
        int blocks = (q.Rows + AttentionQueryBlock - 1) / AttentionQueryBlock;

        Parallel.For(0, c.NumHeads * blocks, item =>
        {
            int head = item / blocks, first = item % blocks * AttentionQueryBlock;
            int rows = Math.Min(AttentionQueryBlock, q.Rows - first);
            int keyCount = start + first + rows;
            int kvHead = head / queriesPerKeyHead;
            int column = head * c.HeadDim;

            var buffer = ArrayPool<float>.Shared.Rent(rows * keyCount);
            var scores = MatrixView.Dense(buffer, rows, keyCount);
            Gemm.MultiplyTransposedSerial(q.RowRange(first, rows).ColumnRange(column, c.HeadDim),
                _cache.Keys(layer, kvHead, keyCount), scores);
            for (int r = 0; r < rows; r++)
            {
                // Query at position p sees keys 0..p; the rest of the row gets probability 0.
                int visible = start + first + r + 1;
                var row = scores.Row(r);
                TensorPrimitives.Multiply(row[..visible], scale, row[..visible]);
                FastOps.Softmax(row[..visible]);
                row[visible..].Clear();
            }
            Gemm.MultiplyTransposedSerial(scores, _cache.ValuesTransposed(layer, kvHead, keyCount),
                attended.RowRange(first, rows).ColumnRange(column, c.HeadDim));
            ArrayPool<float>.Shared.Return(buffer);
        });
    }

    /// <summary>logits = lm_head(h) for <paramref name="count"/> rows of the final-normed states from <paramref name="first"/>.</summary>
    private void ProjectToVocabulary(int first, int count, Span<float> logits)
    {
        int vocab = Config.VocabSize;
        if (_logitBlock.Length < count * vocab) _logitBlock = new float[count * vocab];
        var block = MatrixView.Dense(_logitBlock, count, vocab);
        Gemm.MultiplyTransposed(_act!.Normed(first + count).RowRange(first, count), Linear(_weights.LmHead, vocab, Config.HiddenSize), block);
        _logitBlock.AsSpan(0, count * vocab).CopyTo(logits);
    }

    private void CheckInput(ReadOnlySpan<int> tokens, int start)
    {
        if (start < 0 || start > CachedPositions)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"the cache holds positions 0..{CachedPositions - 1}; a run must start at or before {CachedPositions}");
        if (start + tokens.Length > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"positions {start}..{start + tokens.Length - 1} go past the model's {Config.MaxPositionEmbeddings} positions", nameof(tokens));
        foreach (int token in tokens)
            if ((uint)token >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"token id outside the vocabulary 0..{Config.VocabSize - 1}");
    }

    private static MatrixView Linear(float[] weight, int outFeatures, int inFeatures) => MatrixView.Dense(weight, outFeatures, inFeatures);

    private void RmsNormRows(MatrixView x, float[] weight, MatrixView y)
    {
        for (int t = 0; t < x.Rows; t++) FastOps.RmsNorm(x.Row(t), weight, Config.RmsNormEps, y.Row(t));
    }

    private static void AddRows(MatrixView x, MatrixView delta)
    {
        for (int t = 0; t < x.Rows; t++) TensorPrimitives.Add(x.Row(t), delta.Row(t), x.Row(t));
    }

    /// <summary>Scratch matrices for up to <see cref="Capacity"/> tokens, reused between calls.</summary>
    private sealed class Activations(int capacity, ModelConfig config)
    {
        public int Capacity { get; } = capacity;
        private readonly float[] _x = new float[capacity * config.HiddenSize];
        private readonly float[] _normed = new float[capacity * config.HiddenSize];
        private readonly float[] _residual = new float[capacity * config.HiddenSize];
        private readonly float[] _query = new float[capacity * config.QueryDim];
        private readonly float[] _attended = new float[capacity * config.QueryDim];
        private readonly float[] _value = new float[capacity * config.KeyValueDim];
        private readonly float[] _gate = new float[capacity * config.IntermediateSize];
        private readonly float[] _up = new float[capacity * config.IntermediateSize];

        public MatrixView X(int n) => MatrixView.Dense(_x, n, config.HiddenSize);
        public MatrixView Normed(int n) => MatrixView.Dense(_normed, n, config.HiddenSize);
        public MatrixView Residual(int n) => MatrixView.Dense(_residual, n, config.HiddenSize);
        public MatrixView Query(int n) => MatrixView.Dense(_query, n, config.QueryDim);
        public MatrixView Attended(int n) => MatrixView.Dense(_attended, n, config.QueryDim);
        public MatrixView Value(int n) => MatrixView.Dense(_value, n, config.KeyValueDim);
        public MatrixView Gate(int n) => MatrixView.Dense(_gate, n, config.IntermediateSize);
        public MatrixView Up(int n) => MatrixView.Dense(_up, n, config.IntermediateSize);
    }
}
