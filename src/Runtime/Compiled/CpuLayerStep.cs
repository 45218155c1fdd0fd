using System.Numerics.Tensors;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Compiled;

/// <summary>Runs one decoder layer's forward pass for the CPU model: the generic one, or a generated class's.</summary>
public delegate void CpuLayerForward(CpuLayerStep step);

/// <summary>
/// The steps of one decoder layer on the CPU kernels, over the batch of tokens the model is running
/// (read <see cref="ReferenceModel"/> for the same steps written plainly). A layer's forward pass
/// (<see cref="CpuLayerForward"/>) calls them in the order they are declared here: the generic one in
/// <see cref="Standard"/>, a generated model class one of its own per layer with that layer's
/// constants. Each linear step takes the <see cref="LinearPlan"/>s it runs and checks that they are
/// the linears the model opened for this layer (a cheap comparison of two references).
/// </summary>
public sealed class CpuLayerStep
{
    private readonly CpuModel.State _state;
    private readonly RotaryWork _rotary;
    private readonly SwiGluWork _swiGlu;
    private CpuModel.Layer _weights = null!;

    internal CpuLayerStep(CpuModel.State state)
    {
        _state = state;
        _rotary = new RotaryWork(this);
        _swiGlu = new SwiGluWork(state.Buffers);
    }

    /// <summary>The decoder layer being run.</summary>
    public int Layer { get; private set; }

    /// <summary>Tokens in the batch.</summary>
    public int Tokens { get; private set; }

    /// <summary>Position of the batch's first token.</summary>
    public int StartPosition { get; private set; }

    internal void Begin(int layer, int startPosition, int tokens)
    {
        Layer = layer;
        StartPosition = startPosition;
        Tokens = tokens;
        _weights = _state.Layers[layer];
    }

    /// <summary>The generic layer: the steps in order with the plans read from the manifest.</summary>
    public static void Standard(CpuLayerStep step, LayerPlan plan)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(plan);
        step.AttentionNorm();
        step.QueryKeyValue(plan.Query, plan.Key, plan.Value);
        step.RotaryAndCache();
        step.Attention();
        step.OutputAndResidual(plan.Output);
        step.MlpNorm();
        step.GateUp(plan.Gate, plan.Up);
        step.SwiGlu();
        step.DownAndResidual(plan.Down);
    }

    /// <summary>h = RMSNorm(x) · input_layernorm.</summary>
    public void AttentionNorm() => _state.RmsNormRows(_state.Buffers.X, _weights.AttentionNorm, _state.Buffers.Normed, Tokens);

    /// <summary>q, k, v = h·W_qᵀ, h·W_kᵀ, h·W_vᵀ, in one parallel loop.</summary>
    public void QueryKeyValue(LinearPlan query, LinearPlan key, LinearPlan value)
    {
        Check(query, _weights.Plan.Query);
        Check(key, _weights.Plan.Key);
        Check(value, _weights.Plan.Value);
        var b = _state.Buffers;
        // The cache slots this batch will write are cold (a layer's weights have streamed through since): ask
        // for them now, so that their misses are served during the product instead of after it.
        for (int t = 0; t < Tokens; t++) _state.Cache.Prefetch(Layer, StartPosition + t);
        _state.Products.Run(_state.Pool, b.Normed.AsMemory(0, Tokens * _state.Config.HiddenSize), Tokens,
            [_weights.Query, _weights.Key, _weights.Value], [b.Query, b.Key, b.Value]);
    }

    /// <summary>The rotary embedding of queries and keys; keys and values into the FP16 cache. One work item per head and token.</summary>
    public void RotaryAndCache()
    {
        var c = _state.Config;
        _state.Pool.For(Tokens * (c.NumHeads + c.NumKeyValueHeads), RotaryWork.Chunk, _rotary);
    }

    /// <summary>attended = softmax(q·kᵀ/√d + causal mask)·v over the cached positions, per head.</summary>
    public void Attention() => _state.Attention.Run(_state.Pool, Layer, _state.Buffers.Query, StartPosition, Tokens, _state.Buffers.Attended);

    /// <summary>x = x + attended·W_oᵀ.</summary>
    public void OutputAndResidual(LinearPlan output)
    {
        Check(output, _weights.Plan.Output);
        var b = _state.Buffers;
        _state.Products.Run(_state.Pool, b.Attended.AsMemory(0, Tokens * _state.Config.QueryDim), Tokens, [_weights.Output], [b.Residual]);
        AddResidual();
    }

    /// <summary>h = RMSNorm(x) · post_attention_layernorm.</summary>
    public void MlpNorm() => _state.RmsNormRows(_state.Buffers.X, _weights.MlpNorm, _state.Buffers.Normed, Tokens);

    /// <summary>gate, up = h·W_gateᵀ, h·W_upᵀ, in one parallel loop.</summary>
    public void GateUp(LinearPlan gate, LinearPlan up)
    {
        Check(gate, _weights.Plan.Gate);
        Check(up, _weights.Plan.Up);
        var b = _state.Buffers;
        _state.Products.Run(_state.Pool, b.Normed.AsMemory(0, Tokens * _state.Config.HiddenSize), Tokens,
            [_weights.Gate, _weights.Up], [b.Gate, b.Up]);
    }

    /// <summary>gate = silu(gate) · up, element by element, on the pool.</summary>
    public void SwiGlu() => _state.Pool.For(Tokens * _state.Config.IntermediateSize, SwiGluWork.Chunk, _swiGlu);

    /// <summary>x = x + gate·W_downᵀ.</summary>
    public void DownAndResidual(LinearPlan down)
    {
        Check(down, _weights.Plan.Down);
        var b = _state.Buffers;
        _state.Products.Run(_state.Pool, b.Gate.AsMemory(0, Tokens * _state.Config.IntermediateSize), Tokens, [_weights.Down], [b.Residual]);
        AddResidual();
    }

    private void AddResidual()
    {
        var x = _state.Buffers.X.AsSpan(0, Tokens * _state.Config.HiddenSize);
        TensorPrimitives.Add(x, _state.Buffers.Residual.AsSpan(0, x.Length), x);
    }

    /// <summary>
    /// The plans a layer passes must be the ones the model checked against the pack at open (the
    /// same objects for generated code and the generic path alike), so equal references suffice;
    /// equal values are accepted too, for plans built elsewhere.
    /// </summary>
    private void Check(LinearPlan given, LinearPlan opened)
    {
        if (ReferenceEquals(given, opened) || given == opened) return;
        throw new ArgumentException($"layer {Layer} was given the plan of {given.Name} ({given.Describe()}) where the model opened {opened.Name} ({opened.Describe()})");
    }

    /// <summary>Item i of token t: query head i, or for i ≥ heads key head i − heads, rotated and stored with its values.</summary>
    private sealed class RotaryWork(CpuLayerStep step) : IRangeWork
    {
        /// <summary>Items per range step: a few hundred nanoseconds of work each, so small models (16 heads or fewer a token) stay on one thread.</summary>
        public const int Chunk = 16;

        public void Run(int start, int end)
        {
            var c = step._state.Config;
            var b = step._state.Buffers;
            int perToken = c.NumHeads + c.NumKeyValueHeads;
            for (int item = start; item < end; item++)
            {
                int t = item / perToken, head = item % perToken, position = step.StartPosition + t;
                if (head < c.NumHeads)
                {
                    step._state.Rope.Apply(b.Query.AsSpan(t * c.QueryDim + head * c.HeadDim, c.HeadDim), position);
                    continue;
                }
                int kvHead = head - c.NumHeads, at = t * c.KeyValueDim + kvHead * c.HeadDim;
                var key = b.Key.AsSpan(at, c.HeadDim);
                step._state.Rope.Apply(key, position);
                step._state.Cache.Store(step.Layer, kvHead, position, key, b.Value.AsSpan(at, c.HeadDim));
            }
        }
    }

    /// <summary>SwiGLU over a range of the batch's [tokens × intermediate] gate and up values.</summary>
    private sealed class SwiGluWork(CpuModel.Buffers buffers) : IRangeWork
    {
        /// <summary>Values per range step: what <see cref="FastOps.SwiGlu"/> takes at a time.</summary>
        public const int Chunk = 256;

        public void Run(int start, int end) =>
            FastOps.SwiGlu(buffers.Gate.AsSpan(start, end - start), buffers.Up.AsSpan(start, end - start));
    }
}
