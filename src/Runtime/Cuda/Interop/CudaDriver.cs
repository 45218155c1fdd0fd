using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Cuda.Interop;

/// <summary>
/// The CUDA driver API functions the runtime uses, declared with <c>LibraryImport</c> (source-generated,
/// trimming- and AOT-safe stubs; every signature is blittable so a call is a plain native call with no
/// marshalling or allocation). Names are the exported symbols, including the <c>_v2</c> ones that
/// <c>cuda.h</c> maps the unsuffixed names to. Handles are <c>nint</c>; <c>CUdeviceptr</c> is <c>ulong</c>;
/// <c>size_t</c> is <c>nuint</c>; <c>CUdevice</c> is <c>int</c>.
/// </summary>
internal static unsafe partial class CudaDriver
{
    static CudaDriver() => CudaLibraries.EnsureResolver();

    /// <summary>Throws <see cref="CudaException"/> naming <paramref name="function"/> unless <paramref name="result"/> is success.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Check(CudaResult result, string function)
    {
        if (result != CudaResult.Success) throw CudaException.FromDriver(function, result);
    }

    // Initialization, version, errors
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuInit(uint flags);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDriverGetVersion(int* driverVersion);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuGetErrorName(CudaResult error, byte** name);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuGetErrorString(CudaResult error, byte** description);

    // Devices
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDeviceGetCount(int* count);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDeviceGet(int* device, int ordinal);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDeviceGetAttribute(int* value, CudaDeviceAttribute attribute, int device);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDeviceTotalMem_v2(nuint* bytes, int device);

    // Contexts: the device's primary context (shared with any CUDA runtime code in the process).
    // cuCtxCreate is not declared: CUDA 13's header maps it to cuCtxCreate_v4 with a new parameter block.
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDevicePrimaryCtxRetain(nint* context, int device);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuCtxSetCurrent(nint context);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuCtxSynchronize();

    // Memory
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuMemAlloc_v2(ulong* pointer, nuint bytes);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuMemFree_v2(ulong pointer);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuMemcpyHtoD_v2(ulong destination, void* source, nuint bytes);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuMemcpyDtoH_v2(void* destination, ulong source, nuint bytes);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, nint stream);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuMemsetD8_v2(ulong destination, byte value, nuint count);

    // Streams and events
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuStreamCreate(nint* stream, uint flags);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuStreamSynchronize(nint stream);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuStreamDestroy_v2(nint stream);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuEventCreate(nint* @event, uint flags);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuEventRecord(nint @event, nint stream);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuEventSynchronize(nint @event);
    // The original symbol: CUDA 12.8+ headers map the name to cuEventElapsedTime_v2 (same signature), which older drivers lack.
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuEventElapsedTime(float* milliseconds, nint start, nint end);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuEventDestroy_v2(nint @event);

    // Modules and launch
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuModuleLoadData(nint* module, void* image);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuModuleGetFunction(nint* function, nint module, byte* name);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuModuleUnload(nint module);
    [LibraryImport(CudaLibraries.DriverName)]
    public static partial CudaResult cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemoryBytes, nint stream, nint* kernelParameters, nint* extra);

    // Graphs
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuStreamBeginCapture_v2(nint stream, CudaCaptureMode mode);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuStreamEndCapture(nint stream, nint* graph);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuGraphInstantiateWithFlags(nint* graphExec, nint graph, ulong flags);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuGraphLaunch(nint graphExec, nint stream);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuGraphExecDestroy(nint graphExec);
    [LibraryImport(CudaLibraries.DriverName)] public static partial CudaResult cuGraphDestroy(nint graph);
}
