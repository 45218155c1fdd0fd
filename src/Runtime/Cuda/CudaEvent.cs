using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

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
