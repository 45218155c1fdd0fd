using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Cuda.Interop;

/// <summary>
/// The NVRTC (runtime compilation) functions the runtime uses, declared like <see cref="CudaDriver"/>:
/// blittable <c>LibraryImport</c> stubs, strings as NUL-terminated UTF-8 <c>byte*</c>, the program as <c>nint</c>.
/// </summary>
internal static unsafe partial class Nvrtc
{
    static Nvrtc() => CudaLibraries.EnsureResolver();

    /// <summary>Throws <see cref="CudaException"/> naming <paramref name="function"/> unless <paramref name="result"/> is success.</summary>
    public static void Check(NvrtcResult result, string function)
    {
        if (result != NvrtcResult.Success) throw CudaException.FromNvrtc(function, result);
    }

    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcVersion(int* major, int* minor);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial byte* nvrtcGetErrorString(NvrtcResult result);

    [LibraryImport(CudaLibraries.NvrtcName)]
    public static partial NvrtcResult nvrtcCreateProgram(nint* program, byte* source, byte* name, int headerCount, byte** headers, byte** includeNames);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcCompileProgram(nint program, int optionCount, byte** options);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcGetProgramLogSize(nint program, nuint* size);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcGetProgramLog(nint program, byte* log);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcGetCUBINSize(nint program, nuint* size);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcGetCUBIN(nint program, byte* cubin);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcGetPTXSize(nint program, nuint* size);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcGetPTX(nint program, byte* ptx);
    [LibraryImport(CudaLibraries.NvrtcName)] public static partial NvrtcResult nvrtcDestroyProgram(nint* program);
}
