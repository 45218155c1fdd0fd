using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Keys and values of every layer in FP16, laid out [layer][keys, values][kvHead][position × headDim] so that
/// one head's keys (or values) for positions 0..n−1 are one contiguous run, converted to FP32 in a single call.
/// One native block is reserved for the whole context but touched only as positions are written: the
/// operating system commits pages on first write, so resident memory grows with the context actually used
/// (2 bytes × 2 × layers × kvDim per position; LLaMA-2-7B: 0.5 MiB a position, 1 GiB at 2048). FP16 halves
/// the memory and the bandwidth of long-context attention against FP32, at an error far below the int8
/// activations'.
/// </summary>
internal sealed unsafe class HalfKeyValueCache : IDisposable
{
    private readonly Half* _data;
    private readonly int _layers, _heads, _headDim;
    private readonly long _headStride, _layerStride;

    public HalfKeyValueCache(ModelConfig config, int positions)
    {
        _layers = config.NumLayers;
        _heads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        Positions = positions;
        _headStride = (long)positions * _headDim;
        _layerStride = 2 * _heads * _headStride;
        _data = (Half*)NativeMemory.Alloc((nuint)(_layerStride * _layers), (nuint)sizeof(Half));
    }

    /// <summary>Positions the cache can hold.</summary>
    public int Positions { get; }

    /// <summary>Head <paramref name="kvHead"/>'s keys of positions 0..<paramref name="count"/>−1, [count × headDim].</summary>
    public Span<Half> Keys(int layer, int kvHead, int count) => new(_data + layer * _layerStride + kvHead * _headStride, count * _headDim);

    /// <summary>Head <paramref name="kvHead"/>'s values of positions 0..<paramref name="count"/>−1, [count × headDim].</summary>
    public Span<Half> Values(int layer, int kvHead, int count) => new(_data + layer * _layerStride + (_heads + kvHead) * _headStride, count * _headDim);

    /// <summary>
    /// False once an infinity or a NaN has been stored (it stays false): until then attention may convert the
    /// cache with <see cref="HalfConversion.ToSingle8Finite"/>.
    /// </summary>
    public bool AllFinite => _allFinite;

    // Written only to false, by whichever thread stores a special value; read after the loop that stored it.
    private volatile bool _allFinite = true;

    /// <summary>Stores one position's keys and values of head <paramref name="kvHead"/> ([headDim] each) as FP16.</summary>
    public void Store(int layer, int kvHead, int position, ReadOnlySpan<float> keys, ReadOnlySpan<float> values)
    {
        int at = position * _headDim;
        var storedKeys = Keys(layer, kvHead, position + 1)[at..];
        var storedValues = Values(layer, kvHead, position + 1)[at..];
        TensorPrimitives.ConvertToHalf(keys[.._headDim], storedKeys);
        TensorPrimitives.ConvertToHalf(values[.._headDim], storedValues);
        if (_allFinite && (HalfConversion.AnySpecial(storedKeys) || HalfConversion.AnySpecial(storedValues))) _allFinite = false;
    }

    /// <summary>Asks the processor for the cache lines that position <paramref name="position"/> of a layer will be stored in.</summary>
    public void Prefetch(int layer, int position)
    {
        if (!Sse.IsSupported || position >= Positions) return;
        int bytes = _headDim * sizeof(Half);
        for (int head = 0; head < 2 * _heads; head++)
        {
            byte* slot = (byte*)(_data + layer * _layerStride + head * _headStride + (long)position * _headDim);
            for (int line = 0; line < bytes; line += 64) Sse.Prefetch0(slot + line);
        }
    }

    /// <summary>Zeroes positions 0..<paramref name="count"/>−1 of every layer (benchmarks).</summary>
    public void Clear(int count)
    {
        for (int layer = 0; layer < _layers; layer++)
            for (int head = 0; head < _heads; head++)
            {
                Keys(layer, head, count).Clear();
                Values(layer, head, count).Clear();
            }
    }

    public void Dispose() => NativeMemory.Free(_data);
}
