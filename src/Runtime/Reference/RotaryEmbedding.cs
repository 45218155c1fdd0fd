namespace SagePtq.Runtime.Reference;

/// <summary>
/// Rotary position embedding with the cosines and sines of every (position, frequency) computed
/// once. Angles are rounded the way transformers' <c>LlamaRotaryEmbedding</c> rounds them
/// (inverse frequencies and position × frequency in FP32, then cos and sin), because the
/// goldens come from there and at position 1000 that rounding moves an angle by about 1e-4.
/// <see cref="ReferenceOps.Rope"/> is the exact definition it is tested against.
/// </summary>
internal sealed class RotaryEmbedding
{
    private readonly int _half;
    private readonly float[] _cos; // [position × half]
    private readonly float[] _sin;

    public RotaryEmbedding(int headDim, int maxPositions, float theta)
    {
        _half = headDim / 2;
        _cos = new float[maxPositions * _half];
        _sin = new float[maxPositions * _half];
        for (int i = 0; i < _half; i++)
        {
            float inverseFrequency = 1f / MathF.Pow(theta, 2 * i / (float)headDim);
            for (int position = 0; position < maxPositions; position++)
            {
                float angle = position * inverseFrequency;
                _cos[position * _half + i] = (float)Math.Cos(angle);
                _sin[position * _half + i] = (float)Math.Sin(angle);
            }
        }
    }

    /// <summary>Rotates one head vector in place: pairs (i, i + d/2), as <c>q * cos + rotate_half(q) * sin</c>.</summary>
    public void Apply(Span<float> head, int position)
    {
        var cos = _cos.AsSpan(position * _half, _half);
        var sin = _sin.AsSpan(position * _half, _half);
        var first = head[.._half];
        var second = head[_half..];
        for (int i = 0; i < _half; i++)
        {
            float x1 = first[i], x2 = second[i];
            first[i] = x1 * cos[i] - x2 * sin[i];
            second[i] = x2 * cos[i] + x1 * sin[i];
        }
    }
}
