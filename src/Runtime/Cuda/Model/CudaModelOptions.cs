namespace SagePtq.Runtime.Cuda.Model;

/// <summary>Settings of <see cref="CudaModel"/>.</summary>
public sealed record CudaModelOptions
{
    /// <summary>Positions the GPU KV cache holds; null (the default) = the model's own maximum.</summary>
    public int? ContextLength
    {
        get;
        init
        {
            if (value is < 1) throw new ArgumentOutOfRangeException(nameof(ContextLength), value, "must be at least 1");
            field = value;
        }
    }

    /// <summary>The CUDA device ordinal. Default 0.</summary>
    public int DeviceOrdinal
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(DeviceOrdinal));
            field = value;
        }
    }

    /// <summary>Replay the decode step as one CUDA graph after the first token (default true); false launches every kernel each token.</summary>
    public bool UseGraph { get; init; } = true;

    /// <summary>
    /// Rows a warp of the sage gemv takes at once on its fast path, 1 to 8 (default 4): more rows share each lane's
    /// activation loads, fewer leave more CTAs to hide latency. Results are the same bits at any value; the speed is
    /// for <c>sageptq bench --backend cuda --rows-per-warp</c> to measure on the GPU at hand.
    /// </summary>
    public int SageRowsPerWarp
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(SageRowsPerWarp));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 8, nameof(SageRowsPerWarp));
            field = value;
        }
    } = CudaSourceBuilder.DefaultSageRowsPerWarp;

    /// <summary>The compiled-kernel cache folder; null = <see cref="Compilation.CudaKernelCache"/>'s default.</summary>
    public string? KernelCacheDirectory { get; init; }

    /// <summary>Where compile and cache messages go; null = nowhere.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>
    /// Benchmarks only: run every decoder linear as an <c>f16</c> linear of the same shape filled with small
    /// pseudo-random halves instead of the pack's weights (embedding, norms and LM head stay), so the FP16 decode
    /// of a pack's architecture is timed through the same code path. The logits mean nothing.
    /// </summary>
    internal bool SyntheticFp16Weights { get; init; }
}

/// <summary>
/// The CUDA backend was asked for and cannot run here: no usable driver or device (the reason says which),
/// or the pack uses a layout without a CUDA kernel.
/// </summary>
public sealed class CudaUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
