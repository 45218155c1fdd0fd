namespace SagePtq.Runtime.Cuda.Interop;

/// <summary><c>CUstreamCaptureMode</c>: which other threads' unsafe calls a capture forbids.</summary>
public enum CudaCaptureMode
{
    /// <summary>CU_STREAM_CAPTURE_MODE_GLOBAL.</summary>
    Global = 0,
    /// <summary>CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: only the capturing thread is restricted.</summary>
    ThreadLocal = 1,
    /// <summary>CU_STREAM_CAPTURE_MODE_RELAXED.</summary>
    Relaxed = 2,
}
