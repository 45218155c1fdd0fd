using System.Buffers;
using System.Numerics.Tensors;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Causal self-attention over the FP16 cache, one work item per (query head, token of the batch):
/// scores = q·kᵢ / √d over the visible positions, softmax, Σ pᵢ·vᵢ, with the FP16 keys and values converted
/// in registers as they are read. Same definition as the reference model's attention; only the cache
/// precision differs.
/// </summary>
internal sealed class CpuAttention(ModelConfig config, HalfKeyValueCache cache) : IRangeWork
{
    private readonly int _queriesPerKeyHead = config.NumHeads / config.NumKeyValueHeads;
    private readonly float _scale = 1f / MathF.Sqrt(config.HeadDim);
    private float[] _query = [], _output = [];
    private int _layer, _start, _tokens;

    /// <summary>Attends <paramref name="tokens"/> queries (rows of <paramref name="query"/>, positions <paramref name="start"/>..) into <paramref name="output"/>.</summary>
    public void Run(WorkerPool pool, int layer, float[] query, int start, int tokens, float[] output)
    {
        (_layer, _query, _start, _tokens, _output) = (layer, query, start, tokens, output);
        pool.For(tokens * config.NumHeads, 1, this);
    }

    public unsafe void Run(int startItem, int endItem)
    {
        int d = config.HeadDim, queryDim = config.QueryDim;
        var scores = ArrayPool<float>.Shared.Rent(_start + _tokens);
        bool finite = cache.AllFinite;
        fixed (float* queries = _query, outputs = _output, p = scores)
        {
            for (int item = startItem; item < endItem; item++)
            {
                int head = item / _tokens, t = item % _tokens;
                int kvHead = head / _queriesPerKeyHead;
                int visible = _start + t + 1;
                float* q = queries + t * queryDim + head * d;
                float* output = outputs + t * queryDim + head * d;
                fixed (Half* keys = cache.Keys(_layer, kvHead, visible), values = cache.Values(_layer, kvHead, visible))
                {
                    HalfConversion.DotRows(q, keys, d, visible, p, finite);
                    Softmax(new Span<float>(p, visible), _scale);
                    HalfConversion.WeightedRows(values, p, visible, d, output, finite);
                }
            }
        }
        ArrayPool<float>.Shared.Return(scores);
    }

    /// <summary>
    /// softmax(scale·x) in place. The same steps as <see cref="FastOps.Softmax"/>, with the division by the sum
    /// done as one multiply (TensorPrimitives' divide-by-scalar measured several times slower than the rest of it).
    /// </summary>
    private static void Softmax(Span<float> x, float scale)
    {
        TensorPrimitives.Multiply(x, scale, x);
        TensorPrimitives.Subtract(x, TensorPrimitives.Max(x), x);
        TensorPrimitives.Exp(x, x);
        TensorPrimitives.Multiply(x, 1f / TensorPrimitives.Sum(x), x);
    }
}
