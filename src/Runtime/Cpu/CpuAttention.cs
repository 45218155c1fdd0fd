using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Causal self-attention over the FP16 cache, one work item per (token of the batch, query head):
/// scores = q·kᵢ / √d for the positions the token sees, softmax, then Σ pᵢ·vᵢ. Same definition as the
/// reference model's attention; only the cache precision differs.
/// </summary>
internal sealed class CpuAttention(ModelConfig config, HalfKeyValueCache cache) : IRangeWork
{
    private readonly int _queriesPerKeyHead = config.NumHeads / config.NumKeyValueHeads;
    private readonly float _scale = 1f / MathF.Sqrt(config.HeadDim);
    private float[] _query = [], _output = [];
    private int _layer, _start;

    /// <summary>Attends <paramref name="tokens"/> queries (rows of <paramref name="query"/>, positions <paramref name="start"/>..) into <paramref name="output"/>.</summary>
    public void Run(WorkerPool pool, int layer, float[] query, int start, int tokens, float[] output)
    {
        (_layer, _query, _start, _output) = (layer, query, start, output);
        pool.For(tokens * config.NumHeads, 1, this);
    }

    [SkipLocalsInit]
    public void Run(int startItem, int endItem)
    {
        int d = config.HeadDim, queryDim = config.QueryDim;
        Span<float> row = stackalloc float[d];
        int mostVisible = _start + (endItem - 1) / config.NumHeads + 1;
        float[]? rented = mostVisible > 4096 ? System.Buffers.ArrayPool<float>.Shared.Rent(mostVisible) : null;
        Span<float> scoreBuffer = rented is null ? stackalloc float[mostVisible] : rented;
        for (int item = startItem; item < endItem; item++)
        {
            int t = item / config.NumHeads, head = item % config.NumHeads;
            int kvOffset = head / _queriesPerKeyHead * d;
            int visible = _start + t + 1;
            var q = _query.AsSpan(t * queryDim + head * d, d);
            var output = _output.AsSpan(t * queryDim + head * d, d);
            var scores = scoreBuffer[..visible];
            for (int p = 0; p < visible; p++)
            {
                TensorPrimitives.ConvertToSingle(cache.Key(_layer, p).Slice(kvOffset, d), row);
                scores[p] = TensorPrimitives.Dot(q, row) * _scale;
            }
            FastOps.Softmax(scores);
            output.Clear();
            for (int p = 0; p < visible; p++)
            {
                TensorPrimitives.ConvertToSingle(cache.Value(_layer, p).Slice(kvOffset, d), row);
                TensorPrimitives.MultiplyAdd(row, scores[p], output, output);
            }
        }
        if (rented is not null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
    }
}
