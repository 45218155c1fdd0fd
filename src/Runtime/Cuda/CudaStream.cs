using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>A CUDA stream: an ordered queue of copies, launches and graph launches.</summary>
public sealed unsafe class CudaStream : IDisposable
{
    // CU_STREAM_DEFAULT, not NON_BLOCKING: the synchronous copies and memsets run on the legacy default
    // stream, and only a blocking stream is ordered after them (and they after it).
    private const uint BlockingFlags = 0;

    private CudaStream(nint handle) => Handle = handle;

    /// <summary>The driver's <c>CUstream</c>.</summary>
    internal nint Handle { get; private set; }

    internal static CudaStream Create()
    {
        nint handle;
        CudaDriver.Check(CudaDriver.cuStreamCreate(&handle, BlockingFlags), nameof(CudaDriver.cuStreamCreate));
        return new CudaStream(handle);
    }

    /// <summary>Waits until everything queued on the stream has finished.</summary>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(Handle == 0, this);
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(Handle), nameof(CudaDriver.cuStreamSynchronize));
    }

    /// <summary>Destroys the stream (queued work still completes).</summary>
    public void Dispose()
    {
        if (Handle == 0) return;
        CudaDriver.cuStreamDestroy_v2(Handle);
        Handle = 0;
    }
}
