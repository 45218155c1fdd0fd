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

/// <summary>A CUDA event: a marker recorded on a stream, for ordering and for timing GPU work.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    private const uint DisableTiming = 2; // CU_EVENT_DISABLE_TIMING

    private CudaEvent(nint handle) => Handle = handle;

    internal nint Handle { get; private set; }

    internal static CudaEvent Create(bool timing)
    {
        nint handle;
        CudaDriver.Check(CudaDriver.cuEventCreate(&handle, timing ? 0u : DisableTiming), nameof(CudaDriver.cuEventCreate));
        return new CudaEvent(handle);
    }

    /// <summary>Records the event on <paramref name="stream"/>: it completes when the work queued before it does.</summary>
    public void Record(CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ObjectDisposedException.ThrowIf(Handle == 0, this);
        CudaDriver.Check(CudaDriver.cuEventRecord(Handle, stream.Handle), nameof(CudaDriver.cuEventRecord));
    }

    /// <summary>Waits until the event has completed.</summary>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(Handle == 0, this);
        CudaDriver.Check(CudaDriver.cuEventSynchronize(Handle), nameof(CudaDriver.cuEventSynchronize));
    }

    /// <summary>GPU milliseconds from <paramref name="start"/> to <paramref name="end"/>, waiting for <paramref name="end"/> first.</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        end.Synchronize();
        float milliseconds;
        CudaDriver.Check(CudaDriver.cuEventElapsedTime(&milliseconds, start.Handle, end.Handle), nameof(CudaDriver.cuEventElapsedTime));
        return milliseconds;
    }

    /// <summary>Destroys the event.</summary>
    public void Dispose()
    {
        if (Handle == 0) return;
        CudaDriver.cuEventDestroy_v2(Handle);
        Handle = 0;
    }
}
