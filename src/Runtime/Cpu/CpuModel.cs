using System.Numerics.Tensors;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Compiled;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Cpu;

/// <summary>Settings of <see cref="CpuModel"/>.</summary>
public sealed record CpuModelOptions
{
    /// <summary>Threads of the worker pool, the caller included; 0 (the default) = every core.</summary>
    public int Threads
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(Threads));
            field = value;
        }
    }

    /// <summary>Tokens per batch when a prompt or an evaluation window runs: each weight is read once per batch. Default 32.</summary>
    public int BatchSize
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(BatchSize));
            field = value;
        }
    } = 32;

    /// <summary>Positions the KV cache holds; null (the default) = the model's <see cref="ModelConfig.MaxPositionEmbeddings"/>.</summary>
    public int? ContextLength
    {
        get;
        init
        {
            if (value is < 1) throw new ArgumentOutOfRangeException(nameof(ContextLength), value, "must be at least 1");
            field = value;
        }
    }
}

/// <summary>
/// The LLaMA forward pass on the CPU kernels, over a memory-mapped pack: the same steps as
/// <see cref="ReferenceModel"/> (read that one first), with every linear a <see cref="CpuLinear"/> that
/// reads its packed weights in place, an FP16 KV cache, and a persistent <see cref="WorkerPool"/> for the
/// products and the attention heads. Tokens run in batches of <see cref="CpuModelOptions.BatchSize"/>,
/// one token at a time when decoding. Not thread-safe: one sequence at a time (the text API above it
/// serialises callers).
/// </summary>
public sealed class CpuModel : ICausalLanguageModel, IDisposable
{
    private readonly PackedModel _pack;
    private readonly bool _ownsPack;
    private readonly CpuLinear _embedding;
    private readonly CpuLinear _lmHead;
    private readonly float[] _finalNorm;
    private readonly State _state;
    private readonly CpuLayerStep _step;
    private readonly IReadOnlyList<CpuLayerForward> _layerForwards;
    private readonly float[] _nextLogits;
    private readonly int _batch;
    private bool _disposed;

    /// <summary>Opens the pack in <paramref name="packDirectory"/> and runs it on the CPU; disposing the model closes the pack.</summary>
    /// <exception cref="ModelFileException">The pack is missing, altered, of another format version, or does not hold the model its manifest describes.</exception>
    public static CpuModel Open(string packDirectory, CpuModelOptions? options = null)
    {
        var pack = PackedModel.Open(packDirectory);
        try { return new CpuModel(pack, options, ownsPack: true); }
        catch
        {
            pack.Dispose();
            throw;
        }
    }

    /// <summary>Runs an open pack; the pack must outlive the model.</summary>
    /// <exception cref="ModelFileException">A tensor the forward pass needs is missing or has the wrong shape.</exception>
    public CpuModel(PackedModel pack, CpuModelOptions? options = null) : this(pack, options, ownsPack: false)
    {
    }

    /// <summary>
    /// Runs an open pack; with <paramref name="ownsPack"/> disposing the model closes it. A generated
    /// model class passes its <paramref name="compiled"/> plans and layer forward passes; without them
    /// every layer runs <see cref="CpuLayerStep.Standard"/> with the plans the manifest gives.
    /// </summary>
    /// <exception cref="ModelFileException">A tensor is missing or has the wrong shape, or a compiled plan disagrees with the pack.</exception>
    internal CpuModel(PackedModel pack, CpuModelOptions? options, bool ownsPack, CompiledLayers? compiled = null)
    {
        ArgumentNullException.ThrowIfNull(pack);
        options ??= new CpuModelOptions();
        compiled?.CheckAgainst(pack);
        _pack = pack;
        _ownsPack = ownsPack;
        var c = Config;
        _batch = options.BatchSize;
        ContextLength = Math.Min(options.ContextLength ?? c.MaxPositionEmbeddings, c.MaxPositionEmbeddings);

        var opened = new List<CpuLinear>();
        Layer[] layers;
        CpuLinear Open(string name, long[] shape, int maxTokens)
        {
            var linear = CpuLinears.Open(pack, name, maxTokens);
            opened.Add(linear);
            if (linear.Rows != shape[0] || linear.Cols != shape[1])
                throw new ModelFileException(pack.PackPath, $"{name} is [{linear.Rows}, {linear.Cols}], the architecture needs [{shape[0]}, {shape[1]}]");
            return linear;
        }
        try
        {
            long[] vocabByHidden = [c.VocabSize, c.HiddenSize];
            _embedding = Open(LlamaTensors.Embedding, vocabByHidden, 1);
            _lmHead = Open(c.TieWordEmbeddings ? LlamaTensors.Embedding : LlamaTensors.LmHead, vocabByHidden, _batch);
            layers = new Layer[c.NumLayers];
            for (int i = 0; i < c.NumLayers; i++)
            {
                CpuLinear Part(string part) => Open(LlamaTensors.Layer(i, part), LlamaTensors.LayerShape(c, part), _batch);
                layers[i] = new Layer(
                    PlanOf(i, compiled),
                    ReadNorm(LlamaTensors.Layer(i, "input_layernorm")),
                    Part("self_attn.q_proj"), Part("self_attn.k_proj"), Part("self_attn.v_proj"), Part("self_attn.o_proj"),
                    ReadNorm(LlamaTensors.Layer(i, "post_attention_layernorm")),
                    Part("mlp.gate_proj"), Part("mlp.up_proj"), Part("mlp.down_proj"));
            }
            _finalNorm = ReadNorm(LlamaTensors.FinalNorm);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidDataException or ModelFileException)
        {
            foreach (var linear in opened) linear.Dispose();
            if (e is ModelFileException) throw;
            throw new ModelFileException(pack.PackPath, e.Message, e);
        }
        Linears = opened;
        var cache = new HalfKeyValueCache(c, ContextLength);
        _state = new State(c, new WorkerPool(options.Threads), new Buffers(_batch, c), new RotaryEmbedding(c.HeadDim, ContextLength, c.RopeTheta),
            cache, new CpuAttention(c, cache), layers);
        _step = new CpuLayerStep(_state);
        _layerForwards = compiled?.Forwards ?? layers.Select(l => (CpuLayerForward)(step => CpuLayerStep.Standard(step, l.Plan))).ToArray();
        _nextLogits = new float[c.VocabSize];
        WeightBytesPerToken = layers.Sum(l => l.Linears.Sum(x => x.WeightBytes)) + _lmHead.WeightBytes;
    }

    public ModelConfig Config => _pack.Manifest.Architecture;

    /// <summary>Positions the KV cache holds (at most the model's own).</summary>
    public int ContextLength { get; }

    /// <summary>Threads of the worker pool, the caller included.</summary>
    public int Threads => _state.Pool.Threads;

    /// <summary>Bytes of the pack one decoded token reads: every decoder linear and the LM head.</summary>
    public long WeightBytesPerToken { get; }

    /// <summary>Every linear the model opened (embedding first), to report which kernels run.</summary>
    public IReadOnlyList<CpuLinear> Linears { get; }

    /// <summary>How many positions (from 0) the cache currently holds.</summary>
    public int CachedPositions { get; private set; }

    public void Reset() => CachedPositions = 0;

    /// <summary>
    /// Benchmarks only: marks positions 0..<paramref name="positions"/>−1 as cached with zero keys and values,
    /// so that a decoding step can be timed (and resident memory measured) at a long context without running a
    /// prompt through the model first. Attention then costs what it costs at that context; the logits that
    /// follow are not a continuation of anything.
    /// </summary>
    internal void FillCacheForBenchmark(int positions)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(positions);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(positions, ContextLength);
        _state.Cache.Clear(positions);
        CachedPositions = positions;
    }

    /// <summary>
    /// Profiling only: the layer step, begun on decoder layer <paramref name="layer"/> for one token at
    /// <paramref name="position"/> (which must be cached), with that layer's plan, so that each step of a decode
    /// token can be timed on its own. The buffers hold whatever the last forward pass left in them.
    /// </summary>
    internal (CpuLayerStep Step, LayerPlan Plan) StepForBenchmark(int layer, int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, _state.Layers.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(position, CachedPositions);
        _step.Begin(layer, position, 1);
        return (_step, _state.Layers[layer].Plan);
    }

    public ReadOnlySpan<float> Forward(int token, int position)
    {
        Span<int> one = [token];
        Prefill(one, position);
        return _nextLogits;
    }

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, int startPosition = 0)
    {
        if (tokens.IsEmpty) throw new ArgumentException("at least one token is needed", nameof(tokens));
        CheckInput(tokens, startPosition);
        int last = 0;
        for (int first = 0; first < tokens.Length; first += _batch)
        {
            last = Math.Min(_batch, tokens.Length - first);
            RunDecoder(tokens.Slice(first, last), startPosition + first);
        }
        // Only the last position's logits are wanted: one row through the LM head.
        var b = _state.Buffers;
        _state.Products.Run(_state.Pool, b.Normed.AsMemory((last - 1) * Config.HiddenSize, Config.HiddenSize), 1, [_lmHead], [b.Logits]);
        b.Logits.AsSpan(0, Config.VocabSize).CopyTo(_nextLogits);
        return _nextLogits;
    }

    public void Forward(ReadOnlySpan<int> tokens, int startPosition, Span<float> logits)
    {
        int vocab = Config.VocabSize;
        if (logits.Length != tokens.Length * vocab)
            throw new ArgumentException($"logits holds {logits.Length} floats, {tokens.Length} tokens × {vocab} are needed", nameof(logits));
        CheckInput(tokens, startPosition);
        for (int first = 0; first < tokens.Length; first += _batch)
        {
            int n = Math.Min(_batch, tokens.Length - first);
            RunDecoder(tokens.Slice(first, n), startPosition + first);
            var b = _state.Buffers;
            _state.Products.Run(_state.Pool, b.Normed.AsMemory(0, n * Config.HiddenSize), n, [_lmHead], [b.Logits]);
            b.Logits.AsSpan(0, n * vocab).CopyTo(logits.Slice(first * vocab, n * vocab));
        }
    }

    /// <summary>Embedding, every layer and the final norm for one batch at positions <paramref name="start"/>..; leaves the result in Normed.</summary>
    private void RunDecoder(ReadOnlySpan<int> tokens, int start)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = tokens.Length, width = Config.HiddenSize;
        var b = _state.Buffers;
        for (int t = 0; t < n; t++) _embedding.DecodeRow(tokens[t], b.X.AsSpan(t * width, width));
        for (int layer = 0; layer < _layerForwards.Count; layer++)
        {
            _step.Begin(layer, start, n);
            _layerForwards[layer](_step);
        }
        _state.RmsNormRows(b.X, _finalNorm, b.Normed, n);
        CachedPositions = start + n;
    }

    private void CheckInput(ReadOnlySpan<int> tokens, int start)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (start < 0 || start > CachedPositions)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"the cache holds positions 0..{CachedPositions - 1}; a run must start at or before {CachedPositions}");
        if (start + (long)tokens.Length > ContextLength)
            throw new ArgumentException($"positions {start}..{start + tokens.Length - 1} go past the context of {ContextLength} positions", nameof(tokens));
        foreach (int token in tokens)
            if ((uint)token >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"token id outside the vocabulary 0..{Config.VocabSize - 1}");
    }

    private float[] ReadNorm(string name)
    {
        float[] weight;
        try { weight = _pack.ReadFloats(name); }
        catch (KeyNotFoundException) { throw new ModelFileException(_pack.PackPath, $"has no float tensor {name}, which the forward pass needs"); }
        if (weight.Length != Config.HiddenSize)
            throw new ModelFileException(_pack.PackPath, $"{name} has {weight.Length} values, the architecture needs {Config.HiddenSize}");
        return weight;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _state.Pool.Dispose();
        foreach (var linear in Linears) linear.Dispose();
        _state.Cache.Dispose();
        if (_ownsPack) _pack.Dispose();
    }

    /// <summary>The plan of layer <paramref name="index"/>: the compiled one (checked against the pack at construction), or the manifest's own.</summary>
    private LayerPlan PlanOf(int index, CompiledLayers? compiled) => compiled?.Plans[index] ?? LayerPlan.From(_pack.Manifest, index);

    /// <summary>A generated model's per-layer plans and forward passes (one of each per decoder layer).</summary>
    internal sealed record CompiledLayers(IReadOnlyList<LayerPlan> Plans, IReadOnlyList<CpuLayerForward> Forwards)
    {
        /// <summary>Every plan must be what the pack's manifest records, layer by layer.</summary>
        /// <exception cref="ModelFileException">The pack has another number of layers, or a linear differs.</exception>
        public void CheckAgainst(PackedModel pack)
        {
            int layers = pack.Manifest.Architecture.NumLayers;
            if (Plans.Count != layers || Forwards.Count != layers)
                throw new ModelFileException(pack.PackPath, $"has {layers} decoder layers, the generated model {Plans.Count}: rebuild the project so that its generated code and its pack match");
            for (int i = 0; i < layers; i++)
                foreach (var (want, have) in Plans[i].Linears.Zip(LayerPlan.From(pack.Manifest, i).Linears))
                    if (want != have)
                        throw new ModelFileException(pack.PackPath,
                            $"holds {have.Name} as {have.Describe()}, but the generated model was compiled for {want.Name} as {want.Describe()}: rebuild the project so that its generated code and its pack match");
        }
    }

    /// <summary>One decoder layer's weights, with the plan they were checked against.</summary>
    internal sealed record Layer(
        LayerPlan Plan,
        float[] AttentionNorm, CpuLinear Query, CpuLinear Key, CpuLinear Value, CpuLinear Output,
        float[] MlpNorm, CpuLinear Gate, CpuLinear Up, CpuLinear Down)
    {
        public IEnumerable<CpuLinear> Linears => [Query, Key, Value, Output, Gate, Up, Down];
    }

    /// <summary>What the layer steps work with: the pieces of the model besides the embedding and the LM head.</summary>
    internal sealed record State(ModelConfig Config, WorkerPool Pool, Buffers Buffers, RotaryEmbedding Rope,
        HalfKeyValueCache Cache, CpuAttention Attention, Layer[] Layers)
    {
        public LinearProducts Products { get; } = new();

        public void RmsNormRows(float[] x, float[] weight, float[] y, int n)
        {
            int width = Config.HiddenSize;
            for (int t = 0; t < n; t++) FastOps.RmsNorm(x.AsSpan(t * width, width), weight, Config.RmsNormEps, y.AsSpan(t * width, width));
        }
    }

    /// <summary>Activations of one batch, [tokens × width] each.</summary>
    internal sealed class Buffers(int batch, ModelConfig c)
    {
        public float[] X { get; } = new float[batch * c.HiddenSize];
        public float[] Normed { get; } = new float[batch * c.HiddenSize];
        public float[] Residual { get; } = new float[batch * c.HiddenSize];
        public float[] Query { get; } = new float[batch * c.QueryDim];
        public float[] Key { get; } = new float[batch * c.KeyValueDim];
        public float[] Value { get; } = new float[batch * c.KeyValueDim];
        public float[] Attended { get; } = new float[batch * c.QueryDim];
        public float[] Gate { get; } = new float[batch * c.IntermediateSize];
        public float[] Up { get; } = new float[batch * c.IntermediateSize];
        public float[] Logits { get; } = new float[batch * c.VocabSize];
    }
}
