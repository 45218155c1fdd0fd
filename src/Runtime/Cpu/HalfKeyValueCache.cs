using System.Runtime.InteropServices;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Keys and values of every layer in FP16, [layer][position × kvDim], in one native block reserved for the
/// whole context but touched only as positions are written: the operating system commits pages on first
/// write, so resident memory grows with the context actually used (2 bytes × 2 × layers × kvDim per
/// position; LLaMA-2-7B: 0.5 MiB a position, 1 GiB at 2048). FP16 halves the memory and the bandwidth of
/// long-context attention against FP32 at an error far below the int8 activations'.
/// </summary>
internal sealed unsafe class HalfKeyValueCache : IDisposable
{
    private readonly Half* _data;
    private readonly int _kvDim;
    private readonly long _layerStride;

    public HalfKeyValueCache(ModelConfig config, int positions)
    {
        _kvDim = config.KeyValueDim;
        Positions = positions;
        _layerStride = (long)positions * _kvDim * 2;
        _data = (Half*)NativeMemory.Alloc((nuint)(_layerStride * config.NumLayers), (nuint)sizeof(Half));
    }

    /// <summary>Positions the cache can hold.</summary>
    public int Positions { get; }

    /// <summary>The keys of position <paramref name="position"/> (all KV heads).</summary>
    public Span<Half> Key(int layer, int position) => new(_data + layer * _layerStride + (long)position * _kvDim, _kvDim);

    /// <summary>The values of position <paramref name="position"/> (all KV heads).</summary>
    public Span<Half> Value(int layer, int position) => new(_data + layer * _layerStride + ((long)Positions + position) * _kvDim, _kvDim);

    public void Dispose() => NativeMemory.Free(_data);
}
