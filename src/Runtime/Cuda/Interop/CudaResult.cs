namespace SagePtq.Runtime.Cuda.Interop;

/// <summary>
/// The CUDA driver API's <c>CUresult</c> codes that this binding meets or reports (values from <c>cuda.h</c>).
/// Other codes pass through as plain numbers; <see cref="CudaException"/> asks the driver for their names.
/// </summary>
public enum CudaResult
{
    /// <summary>CUDA_SUCCESS.</summary>
    Success = 0,
    /// <summary>CUDA_ERROR_INVALID_VALUE.</summary>
    InvalidValue = 1,
    /// <summary>CUDA_ERROR_OUT_OF_MEMORY.</summary>
    OutOfMemory = 2,
    /// <summary>CUDA_ERROR_NOT_INITIALIZED.</summary>
    NotInitialized = 3,
    /// <summary>CUDA_ERROR_DEINITIALIZED.</summary>
    Deinitialized = 4,
    /// <summary>CUDA_ERROR_STUB_LIBRARY: the toolkit's link stub was loaded instead of the driver.</summary>
    StubLibrary = 34,
    /// <summary>CUDA_ERROR_INSUFFICIENT_DRIVER: the driver is older than the runtime needs.</summary>
    InsufficientDriver = 35,
    /// <summary>CUDA_ERROR_DEVICE_UNAVAILABLE.</summary>
    DeviceUnavailable = 46,
    /// <summary>CUDA_ERROR_NO_DEVICE.</summary>
    NoDevice = 100,
    /// <summary>CUDA_ERROR_INVALID_DEVICE.</summary>
    InvalidDevice = 101,
    /// <summary>CUDA_ERROR_INVALID_IMAGE: a module image the driver cannot load.</summary>
    InvalidImage = 200,
    /// <summary>CUDA_ERROR_INVALID_CONTEXT: usually no context is current on the calling thread.</summary>
    InvalidContext = 201,
    /// <summary>CUDA_ERROR_NO_BINARY_FOR_GPU: the CUBIN was built for another architecture.</summary>
    NoBinaryForGpu = 209,
    /// <summary>CUDA_ERROR_INVALID_PTX.</summary>
    InvalidPtx = 218,
    /// <summary>CUDA_ERROR_UNSUPPORTED_PTX_VERSION: PTX newer than the driver.</summary>
    UnsupportedPtxVersion = 222,
    /// <summary>CUDA_ERROR_INVALID_HANDLE.</summary>
    InvalidHandle = 400,
    /// <summary>CUDA_ERROR_NOT_FOUND: e.g. no kernel of that name in the module.</summary>
    NotFound = 500,
    /// <summary>CUDA_ERROR_NOT_READY.</summary>
    NotReady = 600,
    /// <summary>CUDA_ERROR_ILLEGAL_ADDRESS: a kernel read or wrote outside its memory.</summary>
    IllegalAddress = 700,
    /// <summary>CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES.</summary>
    LaunchOutOfResources = 701,
    /// <summary>CUDA_ERROR_LAUNCH_TIMEOUT.</summary>
    LaunchTimeout = 702,
    /// <summary>CUDA_ERROR_LAUNCH_FAILED.</summary>
    LaunchFailed = 719,
    /// <summary>CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED.</summary>
    StreamCaptureUnsupported = 900,
    /// <summary>CUDA_ERROR_STREAM_CAPTURE_INVALIDATED.</summary>
    StreamCaptureInvalidated = 901,
    /// <summary>CUDA_ERROR_UNKNOWN.</summary>
    Unknown = 999,
}
